"""Drive a running kernel with jupyter_client, as a frontend would.

Usage: /usr/bin/python3 drive.py CONNECTION_FILE < actions.json

Reads a JSON list of actions from stdin and prints a JSON list of results,
one per action, for the Go tests to assert on. Actions:

  {"do": "execute", "code": "...", "interrupt_after": 0.5, "allow_stdin": false}
  {"do": "kernel_info", "channel": "shell"|"control"}
  {"do": "heartbeat"}
  {"do": "complete", "code": "...", "cursor_pos": 3}
  {"do": "inspect", "code": "...", "cursor_pos": 3}
  {"do": "is_complete", "code": "..."}
  {"do": "shutdown"}

An execute result holds the reply, every iopub message of the request in
order (type, content, metadata, seconds since the request was sent) and
how long the round trip took.
"""
import json
import sys
import time

from jupyter_client import BlockingKernelClient
from jupyter_client.utils import run_sync

TIMEOUT = 60


def control_reply(kc, timeout=TIMEOUT):
    # The blocking client's control channel is async in jupyter_client 7.
    return run_sync(kc.control_channel.get_msg)(timeout=timeout)


def collect(kc, msg_id, started, interrupt_after=None, stdin_answers=None, probe_after=None):
    """Read iopub (and stdin) until the request's idle status.

    interrupt_after: send interrupt_request on control after so many seconds.
    probe_after: after so many seconds, while the cell runs, check that the
    heartbeat beats and that kernel_info on control is answered.
    """
    msgs = []
    interrupted = False
    probed = False
    while True:
        now = time.time() - started
        if interrupt_after is not None and not interrupted and now >= interrupt_after:
            msg = kc.session.msg("interrupt_request", {})
            kc.control_channel.send(msg)
            interrupted = True
            reply = control_reply(kc)
            msgs.append({"type": "interrupt_reply", "content": reply["content"], "metadata": {},
                         "t": time.time() - started,
                         "parent": reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]})
        if probe_after is not None and not probed and now >= probe_after:
            probed = True
            beating = kc.hb_channel.is_beating()
            msg = kc.session.msg("kernel_info_request", {})
            kc.control_channel.send(msg)
            reply = control_reply(kc, 5)
            msgs.append({"type": "probe", "content": {
                "beating": beating, "control_reply": reply["header"]["msg_type"],
                "parent": reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]},
                "metadata": {}, "t": time.time() - started})
        if stdin_answers is not None:
            try:
                req = run_sync(kc.stdin_channel.get_msg)(timeout=0.01)
            except Exception:
                req = None
            if req is not None:
                kc.input(stdin_answers.pop(0) if stdin_answers else "")
                msgs.append({"type": "input_request", "content": req["content"], "metadata": {},
                             "t": time.time() - started})
        try:
            msg = kc.get_iopub_msg(timeout=0.05)
        except Exception:
            if time.time() - started > TIMEOUT:
                raise TimeoutError("no idle status for %s" % msg_id)
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        msgs.append({"type": msg["msg_type"], "content": msg["content"],
                     "metadata": msg.get("metadata", {}), "t": time.time() - started})
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return msgs


def shell_reply(kc, msg_id):
    while True:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def main():
    kc = BlockingKernelClient()
    kc.load_connection_file(sys.argv[1])
    kc.start_channels()
    kc.wait_for_ready(timeout=TIMEOUT)
    results = []
    for a in json.load(sys.stdin):
        do = a["do"]
        started = time.time()
        if do == "execute":
            answers = a.get("stdin")
            msg_id = kc.execute(a["code"], allow_stdin=answers is not None,
                                silent=a.get("silent", False), store_history=a.get("store_history", True))
            msgs = collect(kc, msg_id, started, a.get("interrupt_after"), answers, a.get("probe_after"))
            reply = shell_reply(kc, msg_id)
            results.append({"reply": reply["content"], "msgs": msgs, "seconds": time.time() - started})
        elif do == "kernel_info":
            if a.get("channel") == "control":
                msg = kc.session.msg("kernel_info_request", {})
                kc.control_channel.send(msg)
                reply = control_reply(kc)
                results.append({"reply": reply["content"], "channel": "control",
                                "parent": reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]})
            else:
                msg_id = kc.kernel_info()
                reply = shell_reply(kc, msg_id)
                results.append({"reply": reply["content"], "channel": "shell"})
        elif do == "heartbeat":
            results.append({"beating": kc.hb_channel.is_beating()})
        elif do == "complete":
            msg_id = kc.complete(a["code"], a.get("cursor_pos"))
            results.append({"reply": shell_reply(kc, msg_id)["content"]})
        elif do == "inspect":
            msg_id = kc.inspect(a["code"], a.get("cursor_pos"))
            results.append({"reply": shell_reply(kc, msg_id)["content"]})
        elif do == "is_complete":
            msg_id = kc.is_complete(a["code"])
            results.append({"reply": shell_reply(kc, msg_id)["content"]})
        elif do == "shutdown":
            msg = kc.session.msg("shutdown_request", {"restart": False})
            kc.control_channel.send(msg)
            reply = control_reply(kc)
            results.append({"reply": reply["content"], "seconds": time.time() - started})
        else:
            raise ValueError("unknown action %r" % do)
    kc.stop_channels()
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
