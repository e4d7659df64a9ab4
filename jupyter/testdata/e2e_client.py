"""End-to-end check of the Go jupyter.Server with the real jupyter_client.

Run by TestEndToEndJupyterClient (server_e2e_test.go) as
    /usr/bin/python3 e2e_client.py CONNECTION_FILE
against a server whose test handler:
  * kernel_info_request (shell or control): busy, kernel_info_reply, idle
  * execute_request: busy, execute_input, stream(code); "sleep:N" sleeps N s,
    "input:PROMPT" asks for input and streams the answer; execute_reply; idle
  * interrupt_request / shutdown_request on control: reply.
Every check prints "ok: ..."; any failure raises (non-zero exit).
"""
import json
import queue
import sys
import time

import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.session import Session

TIMEOUT = 10


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what.split(":")[0] if ":" in what else what, flush=True)


def iopub_until_idle(kc, parent_id, timeout=TIMEOUT):
    """Collect iopub messages of parent_id until its idle status."""
    msgs = []
    deadline = time.time() + timeout
    while time.time() < deadline:
        msg = kc.get_iopub_msg(timeout=deadline - time.time())
        if msg["parent_header"].get("msg_id") != parent_id:
            continue
        msgs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return msgs
    raise AssertionError("no idle for %s; got %r" % (parent_id, [m["msg_type"] for m in msgs]))


def shell_reply(kc, msg_id, timeout=TIMEOUT):
    reply = kc.get_shell_msg(timeout=timeout)
    check(reply["parent_header"]["msg_id"] == msg_id, "shell reply parent matches: %r" % reply["parent_header"])
    return reply


def main(path):
    info = json.load(open(path))
    kc = BlockingKernelClient()
    kc.load_connection_file(path)
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=TIMEOUT)
        print("ok: wait_for_ready", flush=True)

        # --- kernel_info on shell, via the normal API
        msg_id = kc.kernel_info()
        reply = shell_reply(kc, msg_id)
        check(reply["msg_type"] == "kernel_info_reply", "kernel_info_reply type")
        check(reply["content"]["language_info"]["name"] == "go", "kernel_info language: %r" % reply["content"])
        check(reply["header"]["version"] == "5.3", "header version 5.3")
        states = [m["content"]["execution_state"] for m in iopub_until_idle(kc, msg_id) if m["msg_type"] == "status"]
        check(states == ["busy", "idle"], "busy then idle around kernel_info: %r" % states)

        # --- execute: reply on shell, output on iopub with the right parent
        code = "fmt.Println(\"héllo\")"
        msg_id = kc.execute(code)
        reply = shell_reply(kc, msg_id)
        check(reply["msg_type"] == "execute_reply" and reply["content"]["status"] == "ok", "execute_reply ok: %r" % reply)
        check(reply["content"]["execution_count"] == 1, "execution_count 1")
        msgs = iopub_until_idle(kc, msg_id)
        types = [m["msg_type"] for m in msgs]
        check(types == ["status", "execute_input", "stream", "status"], "iopub sequence: %r" % types)
        check(msgs[2]["content"] == {"name": "stdout", "text": code}, "stream echoes code: %r" % msgs[2]["content"])

        # --- control channel: kernel_info reply must come back on control
        req = kc.session.msg("kernel_info_request")
        kc.control_channel.send(req)
        creply = kc.get_control_msg(timeout=TIMEOUT)
        check(creply["msg_type"] == "kernel_info_reply", "control kernel_info_reply")
        check(creply["parent_header"]["msg_id"] == req["header"]["msg_id"], "control reply parent matches")
        iopub_until_idle(kc, req["header"]["msg_id"])

        # --- heartbeat
        deadline = time.time() + TIMEOUT
        while not kc.hb_channel.is_beating() and time.time() < deadline:
            time.sleep(0.1)
        check(kc.hb_channel.is_beating(), "heartbeat beating")

        # --- control (and heartbeat) served while shell is busy with a long request
        msg_id = kc.execute("sleep:4")
        time.sleep(0.5)
        t0 = time.time()
        req = kc.session.msg("interrupt_request")
        kc.control_channel.send(req)
        creply = kc.get_control_msg(timeout=3)
        check(creply["msg_type"] == "interrupt_reply" and creply["parent_header"]["msg_id"] == req["header"]["msg_id"],
              "interrupt_reply on control while shell busy")
        check(time.time() - t0 < 2.5, "control answered before the shell request finished")
        check(kc.hb_channel.is_beating(), "heartbeat beating while shell busy")
        shell_reply(kc, msg_id, timeout=TIMEOUT)
        iopub_until_idle(kc, msg_id)

        # --- stdin: input_request routed to this client, input_reply routed back
        msg_id = kc.execute("input:Name? ", allow_stdin=True)
        ireq = kc.get_stdin_msg(timeout=TIMEOUT)
        check(ireq["msg_type"] == "input_request", "input_request on stdin")
        check(ireq["content"] == {"prompt": "Name? ", "password": False}, "input_request content: %r" % ireq["content"])
        check(ireq["parent_header"]["msg_id"] == msg_id, "input_request parent is the execute_request")
        kc.input("Gopher")
        reply = shell_reply(kc, msg_id)
        check(reply["content"]["status"] == "ok", "execute with input ok")
        streams = [m["content"]["text"] for m in iopub_until_idle(kc, msg_id) if m["msg_type"] == "stream"]
        check("got:Gopher" in streams, "input value reached the handler: %r" % streams)

        # --- raw sockets: badly signed / malformed messages are dropped, no reply
        ctx = zmq.Context.instance()
        raw = ctx.socket(zmq.DEALER)  # no identity set: the server must assign one
        raw.setsockopt(zmq.LINGER, 0)
        raw.connect("tcp://%s:%d" % (info["ip"], info["shell_port"]))
        good = Session(key=info["key"].encode(), signature_scheme=info["signature_scheme"])
        evil = Session(key=b"not-the-key", signature_scheme=info["signature_scheme"])
        evil.send(raw, "kernel_info_request")
        raw.send_multipart([b"<IDS|MSG>", b"deadbeef", b"{", b"{}", b"{}", b"{}"])
        raw.send_multipart([b"no delimiter at all"])
        raw.send_multipart([b"<IDS|MSG>", b"x"])
        # correctly signed, but the header is not JSON
        parts = [b"not json", b"{}", b"{}", b"{}"]
        raw.send_multipart([b"<IDS|MSG>", good.sign(parts)] + parts)
        check(raw.poll(1500) == 0, "no reply to badly signed or malformed messages")

        good.send(raw, "kernel_info_request")
        check(raw.poll(TIMEOUT * 1000) != 0, "reply to a good message after bad ones")
        idents, frames = good.feed_identities(raw.recv_multipart())
        msg = good.deserialize(frames)  # verifies the server's signature
        check(msg["msg_type"] == "kernel_info_reply", "raw client got kernel_info_reply")
        raw.close()

        # --- a second client with its own session gets its own replies
        kc2 = BlockingKernelClient()
        kc2.load_connection_file(path)
        kc2.start_channels()
        try:
            kc2.wait_for_ready(timeout=TIMEOUT)
            mid = kc2.execute("second")
            r2 = kc2.get_shell_msg(timeout=TIMEOUT)
            check(r2["parent_header"]["msg_id"] == mid, "second client receives its own reply")
            try:
                stray = kc.get_shell_msg(timeout=0.5)
            except queue.Empty:
                stray = None
            check(stray is None, "first client did not get the second client's reply: %r" % (stray,))
        finally:
            kc2.stop_channels()

        # --- normal client still fine afterwards
        msg_id = kc.execute("after")
        reply = shell_reply(kc, msg_id)
        check(reply["content"]["status"] == "ok", "server still serving after bad messages")

        # --- shutdown on control
        req = kc.session.msg("shutdown_request", {"restart": False})
        kc.control_channel.send(req)
        creply = kc.get_control_msg(timeout=TIMEOUT)
        check(creply["msg_type"] == "shutdown_reply" and creply["content"] == {"status": "ok", "restart": False},
              "shutdown_reply on control: %r" % creply["content"])
    finally:
        kc.stop_channels()
    print("ALL OK", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
