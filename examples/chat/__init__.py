"""The chat application: worker app, web backend, web page and storage."""
