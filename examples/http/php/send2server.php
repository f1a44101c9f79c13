<?php
// Seed 000's send2Server, on the HTTP API: the page posts what the user typed
// ({"action_type": "send_msg", "group_id": ..., "content": ..., "msgtype": 0}), and the
// backend adds what only it knows, the logged-in user's nickname and avatar, then
// broadcasts to every page with send_to_all (Gateway::sendToAll in the original).
//
//   GW_API_URL=http://127.0.0.1:8790 GW_API_KEY=... php -S 127.0.0.1:8000 -t examples/http/php

declare(strict_types=1);

require __DIR__ . '/gateway.php';

function answer(int $status, int $code, string $msg): never
{
    http_response_code($status);
    header('Content-Type: application/json; charset=utf-8');
    echo json_encode(['code' => $code, 'msg' => $msg], JSON_UNESCAPED_UNICODE);
    exit;
}

if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    answer(405, 100, '请用post方法请求接口');  // "use POST", as the original says
}
session_start();
$user = $_SESSION['user'] ?? null;  // your login system: who is posting (see login.php)
if (!is_array($user)) {
    answer(401, 401, 'not logged in');
}
$json = json_decode(file_get_contents('php://input') ?: '', true);
if (!is_array($json)) {
    answer(400, 400, 'the body is a JSON object');
}
$action_type = $json['action_type'] ?? '';

if ($action_type === 'login') {
    // tell every page that this user came in
    $send_data = [
        'action_type' => 'new_user_login',
        'username' => $user['nickname'],
        'photo' => $user['head_img'],
    ];
} elseif ($action_type === 'send_msg') {
    $send_data = [
        'action_type' => 'new_msg',
        'msgtype' => (int) ($json['msgtype'] ?? 0),
        'uid' => $user['uid'],
        'photo' => $user['head_img'],
        'username' => $user['nickname'],
        'content' => (string) ($json['content'] ?? ''),
    ];
} else {
    answer(400, 400, 'unknown action_type');
}

try {
    gateway('send_to_all', ['message' => $send_data]);  // an array: sent as its JSON text
} catch (GatewayError $e) {
    error_log($e->getMessage());  // the reason, never the key
    answer(502, 502, 'the message could not be sent');
}
answer(200, 0, 'success');
