<?php
// The cluster's HTTP API from PHP (gw api): one function, no extension beyond PHP's own
// streams and json. Settings from the environment:
//   GW_API_URL  where gw api listens (default http://127.0.0.1:8790)
//   GW_API_KEY  its key (sent as "Authorization: Bearer <key>"; never log it)
//
//   gateway('send_to_all', ['message' => ['action_type' => 'new_msg', 'content' => 'hi']]);
//   $online = gateway('get_all_client_id_count');
//
// Every call of GatewayWorker's Gateway class is here by its snake_case name
// (sendToAll -> send_to_all, getClientIdCountByGroup -> get_client_id_count_by_group),
// its arguments by name. A message that is an array is sent as its JSON text.

declare(strict_types=1);

final class GatewayError extends RuntimeException
{
    public function __construct(
        string $message,
        public readonly int $status = 0,       // the HTTP status (0: no answer at all)
        public readonly string $error = '',    // the API's error code, e.g. "invalid_argument"
    ) {
        parent::__construct($message);
    }
}

/** Do one call; its result (null for a send). Throws GatewayError if it was refused. */
function gateway(string $call, array $args = [], float $timeout = 10.0): mixed
{
    $url = rtrim(getenv('GW_API_URL') ?: 'http://127.0.0.1:8790', '/') . '/api/v1/' . $call;
    $key = getenv('GW_API_KEY') ?: throw new GatewayError('GW_API_KEY is not set');
    $context = stream_context_create(['http' => [
        'method' => 'POST',
        'header' => "Content-Type: application/json\r\nAuthorization: Bearer {$key}\r\n",
        'content' => json_encode((object) $args, JSON_UNESCAPED_UNICODE | JSON_THROW_ON_ERROR),
        'ignore_errors' => true,  // a 4xx or 5xx answer's body says why: read it
        'timeout' => $timeout,
    ]]);
    $body = @file_get_contents($url, false, $context);
    if ($body === false) {
        throw new GatewayError("{$call}: cannot reach the HTTP API at {$url}");
    }
    $status = (int) (explode(' ', $http_response_header[0] ?? '')[1] ?? 0);
    $reply = json_decode($body, true);
    if ($status !== 200 || !is_array($reply) || !array_key_exists('result', $reply)) {
        $error = $reply['error'] ?? ['code' => 'http', 'message' => "HTTP {$status}"];
        throw new GatewayError("{$call}: {$error['message']}", $status, $error['code']);
    }
    return $reply['result'];
}
