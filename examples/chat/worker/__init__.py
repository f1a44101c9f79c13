"""The chat's business worker: design document 001's ``Events`` on the cluster.

``gw worker --app examples.chat.worker.app``: :mod:`.app` maps the document's frames
(:mod:`.requests`) and who may claim what (:mod:`.identity`) onto the Gateway API, and
pushes the welcome and presence frames (:mod:`.notices`).
"""
