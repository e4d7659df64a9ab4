"""Start an installed kernelspec by name with jupyter_client, as a notebook
server would, run one cell, shut the kernel down.

Usage: /usr/bin/python3 by_name.py KERNEL_NAME CODE

Prints a JSON object: the reply's status, the cell's stdout and stderr
text, and the argv the kernel manager ran. If the kernel does not come up,
prints {"error": "..."} and exits 1.
"""
import json
import sys

from jupyter_client.manager import KernelManager

TIMEOUT = 60


def main():
    name, code = sys.argv[1], sys.argv[2]
    km = KernelManager(kernel_name=name)
    try:
        km.start_kernel()
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=TIMEOUT)
    except Exception as e:  # noqa: BLE001 - report whatever stopped the start
        print(json.dumps({"error": "%s: %s" % (type(e).__name__, e)}))
        km.shutdown_kernel(now=True)
        return 1
    out = {"stdout": "", "stderr": ""}

    def hook(msg):
        if msg["msg_type"] == "stream":
            out[msg["content"]["name"]] += msg["content"]["text"]

    reply = kc.execute_interactive(code, timeout=TIMEOUT, output_hook=hook)
    out["status"] = reply["content"]["status"]
    out["argv"] = km.kernel_spec.argv
    kc.stop_channels()
    km.shutdown_kernel()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
