<?php
// A stand-in for YOUR login system, so that the example runs: it believes whatever
// nickname and avatar it is sent. Keep your own login, and put the user in
// $_SESSION['user'] (uid, nickname, head_img) as it does.

declare(strict_types=1);

session_start();
$json = json_decode(file_get_contents('php://input') ?: '', true) ?: [];
$_SESSION['user'] = [
    'uid' => (string) ($json['uid'] ?? '1'),
    'nickname' => (string) ($json['nickname'] ?? 'guest'),
    'head_img' => (string) ($json['head_img'] ?? ''),
];
header('Content-Type: application/json; charset=utf-8');
echo json_encode(['code' => 0, 'msg' => 'success']);
