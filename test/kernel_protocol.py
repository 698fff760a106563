"""Jupyter protocol conformance checks for the Petal kernel, driven by jupyter_client against a real kernel process.

Run by kernel-protocol.test.ts: `python kernel_protocol.py NODE MAIN_TS WORKDIR`. Prints one JSON line per check,
{"check": name, "ok": bool, "detail": str, "ms": float}, and exits 0 when every check ran (pass or fail).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
import uuid

import zmq
from jupyter_client import BlockingKernelClient
from jupyter_client.connect import write_connection_file
from jupyter_client.session import Session

NODE, MAIN, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
TIMEOUT = 60


def report(name, ok, detail="", ms=0.0):
    print(json.dumps({"check": name, "ok": ok, "detail": detail, "ms": round(ms, 1)}), flush=True)


ONLY = os.environ.get("PETAL_KERNEL_CHECKS")  # a regex picking checks, while debugging one; unset in the suite


def check(name):
    def wrap(fn):
        if ONLY and not re.search(ONLY, name) and not name.startswith("shutdown"):
            return fn
        start = time.time()
        try:
            fn()
            report(name, True, ms=(time.time() - start) * 1000)
        except Exception as err:  # noqa: BLE001 - every failure is reported, the run goes on
            detail = "".join(traceback.format_exception_only(type(err), err)).strip()
            report(name, False, f"{detail}\n{traceback.format_exc(limit=3)}", (time.time() - start) * 1000)
        return fn

    return wrap


def children(pid):
    """Live descendants of pid."""
    parents = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z":
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in parents.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


conn_file, conn = write_connection_file(os.path.join(WORK, "kernel.json"), key=uuid.uuid4().hex.encode())
log = open(os.path.join(WORK, "kernel.log"), "w")
kernel = subprocess.Popen(
    [NODE, MAIN, "--connection-file", conn_file], cwd=WORK, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
)
with open(os.path.join(WORK, "kernel.pid"), "w") as f:
    f.write(str(kernel.pid))
kc = BlockingKernelClient()
kc.load_connection_file(conn_file)
kc.start_channels()
# Like wait_for_ready, but judging life by the process, as a KernelManager does (not by one missed heartbeat).
deadline = time.time() + TIMEOUT
while True:
    kc.kernel_info()
    try:
        if kc.get_shell_msg(timeout=1)["msg_type"] == "kernel_info_reply":
            break
    except Exception:  # noqa: BLE001
        pass
    if kernel.poll() is not None or time.time() > deadline:
        raise SystemExit(f"the kernel did not answer kernel_info (exit {kernel.poll()}); see {WORK}/kernel.log")
# drop the other kernel_info replies and their status messages
while True:
    try:
        kc.get_shell_msg(timeout=0.3)
    except Exception:  # noqa: BLE001
        break
while True:
    try:
        kc.get_iopub_msg(timeout=0.3)
    except Exception:  # noqa: BLE001
        break


def collect(msg_id, channel="shell"):
    """The reply to msg_id and the iopub messages it caused, up to its idle status."""
    outputs = []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        outputs.append(msg)
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    get = kc.get_shell_msg if channel == "shell" else kc.control_channel.get_msg
    while True:
        reply = get(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply, outputs


def run(code, **kwargs):
    return collect(kc.execute(code, **kwargs))


def of(outputs, msg_type):
    return [m["content"] for m in outputs if m["msg_type"] == msg_type]


def result_text(outputs):
    results = of(outputs, "execute_result")
    assert len(results) == 1, f"one execute_result expected, got {outputs}"
    return results[0]["data"]["text/plain"]


def ok(code, **kwargs):
    reply, outputs = run(code, **kwargs)
    assert reply["content"]["status"] == "ok", f"{code!r}: {reply['content']} {of(outputs, 'error')}"
    return reply, outputs


def error(code, **kwargs):
    reply, outputs = run(code, **kwargs)
    assert reply["content"]["status"] == "error", f"{code!r} should fail: {reply['content']}"
    errors = of(outputs, "error")
    assert len(errors) == 1, f"one error output expected: {outputs}"
    for key in ("ename", "evalue", "traceback"):
        assert reply["content"][key] == errors[0][key], f"reply and error output differ in {key}"
    return errors[0]


def send(channel, msg_type, content, buffers=None):
    msg = kc.session.msg(msg_type, content)
    kc.session.send(channel.socket, msg, buffers=buffers)
    return msg["header"]["msg_id"]


def wait_iopub(msg_type, parent_id):
    deadline = time.time() + TIMEOUT
    while time.time() < deadline:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        if msg["msg_type"] == msg_type and msg["parent_header"].get("msg_id") == parent_id:
            return msg
    raise AssertionError(f"no {msg_type} for {parent_id}")


@check("kernel_info on shell and control, with busy/idle on iopub")
def _():
    reply, outputs = collect(kc.kernel_info())
    content = reply["content"]
    assert reply["msg_type"] == "kernel_info_reply" and content["status"] == "ok", reply
    assert content["protocol_version"].startswith("5."), content
    assert content["language_info"]["name"] == "typescript", content
    assert [m["content"]["execution_state"] for m in outputs] == ["busy", "idle"], outputs
    msg_id = send(kc.control_channel, "kernel_info_request", {})
    control = kc.control_channel.get_msg(timeout=TIMEOUT)
    assert control["msg_type"] == "kernel_info_reply" and control["parent_header"]["msg_id"] == msg_id, control


@check("execute: execute_input, execute_result text/plain, execution_count")
def _():
    reply, outputs = ok("const x: number = 1 + 1; x")
    count = reply["content"]["execution_count"]
    assert of(outputs, "execute_input") == [{"code": "const x: number = 1 + 1; x", "execution_count": count}], outputs
    assert result_text(outputs) == "2"
    assert of(outputs, "execute_result")[0]["execution_count"] == count
    reply2, _ = ok("x")
    assert reply2["content"]["execution_count"] == count + 1


@check('execute: rich bundles through Symbol.for("Jupyter.display")')
def _():
    _, outputs = ok('({ [Symbol.for("Jupyter.display")]() { return { "text/html": "<b>hi</b>" }; } })')
    data = of(outputs, "execute_result")[0]["data"]
    assert data["text/html"] == "<b>hi</b>" and "text/plain" in data, data


@check("execute: stdout and stderr as stream messages")
def _():
    _, outputs = ok('console.log("out"); console.error("err")')
    streams = {c["name"]: c["text"] for c in of(outputs, "stream")}
    assert streams == {"stdout": "out\n", "stderr": "err\n"}, outputs


@check("error: TypeScript diagnostics with line and column")
def _():
    err = error("const ok = 1;\nconst s: string = 1;")
    assert err["ename"] == "TypeScriptError", err
    assert "2:7" in err["evalue"] and "not assignable" in err["evalue"], err
    assert any("const s: string = 1;" in line for line in err["traceback"]), err


@check("error: runtime exceptions, thrown values, PetalErrors with a fix line")
def _():
    err = error('throw new RangeError("boom")')
    assert (err["ename"], err["evalue"]) == ("RangeError", "boom"), err
    assert not any("node:vm" in line for line in err["traceback"]), err["traceback"]
    thrown = error("throw 42")
    assert thrown["evalue"] == "42", thrown
    petal = error("%nope")
    assert petal["ename"] == "PETAL_MAGIC_UNKNOWN" and "fix:" in petal["evalue"], petal


@check("stop_on_error aborts queued cells; stop_on_error=false does not")
def _():
    ids = [kc.execute("throw new Error('first')"), kc.execute("1"), kc.execute("2")]
    replies = {}
    while len(replies) < 3:
        msg = kc.get_shell_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") in ids:
            replies[msg["parent_header"]["msg_id"]] = msg["content"]["status"]
    assert [replies[i] for i in ids] == ["error", "aborted", "aborted"], replies
    ids = [kc.execute("throw new Error('again')", stop_on_error=False), kc.execute("3")]
    replies = {}
    while len(replies) < 2:
        msg = kc.get_shell_msg(timeout=TIMEOUT)
        if msg["parent_header"].get("msg_id") in ids:
            replies[msg["parent_header"]["msg_id"]] = msg["content"]["status"]
    assert [replies[i] for i in ids] == ["error", "ok"], replies


@check("silent and store_history")
def _():
    before, _ = ok("1")
    reply, outputs = ok("x + 100", silent=True)
    assert of(outputs, "execute_input") == [] and of(outputs, "execute_result") == [], outputs
    after, _ = ok("const unstored = 5; unstored", store_history=False)
    assert after["content"]["execution_count"] == before["content"]["execution_count"] + 1, "silent does not count"
    msg_id = kc.history(hist_access_type="tail", n=100)
    history = [h[2] for h in collect(msg_id)[0]["content"]["history"]]
    assert "x + 100" not in history and "const unstored = 5; unstored" not in history, history


@check("display_data, update_display_data, clear_output")
def _():
    _, outputs = ok(
        'import { display, clearOutput } from "petal";\n'
        'const h = display({ [Symbol.for("Jupyter.display")]: () => ({ "text/html": "<i>a</i>" }) }, { id: "d1" });\n'
        'h.update("b");\nclearOutput(true);'
    )
    shown = of(outputs, "display_data")
    assert len(shown) == 1 and shown[0]["data"]["text/html"] == "<i>a</i>", outputs
    assert shown[0]["transient"]["display_id"] == "d1", shown
    updated = of(outputs, "update_display_data")
    assert len(updated) == 1 and updated[0]["data"]["text/plain"] == "'b'", outputs
    assert updated[0]["transient"]["display_id"] == "d1", updated
    assert of(outputs, "clear_output") == [{"wait": True}], outputs
    order = [m["msg_type"] for m in outputs if m["msg_type"] != "status"]
    assert order == ["execute_input", "display_data", "update_display_data", "clear_output"], order


@check("complete from the TypeScript service, magic lines masked, magics completed")
def _():
    ok("const abcdef = 1; const petalObj = { alpha: 1, beta: 'b' };")
    code = "%kafka status\nabcd"
    reply, _ = collect(kc.complete(code, len(code)))
    c = reply["content"]
    assert c["status"] == "ok" and "abcdef" in c["matches"], c
    assert (c["cursor_start"], c["cursor_end"]) == (len(code) - 4, len(code)), c
    code = "petalObj."
    c = collect(kc.complete(code, len(code)))[0]["content"]
    assert {"alpha", "beta"} <= set(c["matches"]), c
    code = 'import { kafka } from "petal";\nkafka.st'
    c = collect(kc.complete(code, len(code)))[0]["content"]
    assert "status" in c["matches"], c
    c = collect(kc.complete("%ka", 3))[0]["content"]
    assert c["matches"] == ["%kafka"] and c["cursor_start"] == 0, c
    c = collect(kc.complete("%kafka up --p", 13))[0]["content"]
    assert c["matches"] == ["--port"], c


@check("inspect and is_complete")
def _():
    c = collect(kc.inspect("abcdef", 3))[0]["content"]
    assert c["status"] == "ok" and c["found"] and "const abcdef: 1" in c["data"]["text/plain"], c
    c = collect(kc.inspect("%kafka status\nabcdef", 16))[0]["content"]
    assert c["found"] and "abcdef" in c["data"]["text/plain"], c
    c = collect(kc.inspect("nosuchthing", 3))[0]["content"]
    assert c["status"] == "ok" and not c["found"], c
    assert collect(kc.is_complete("function f() {"))[0]["content"]["status"] == "incomplete"
    assert collect(kc.is_complete("1 + 1"))[0]["content"]["status"] == "complete"
    assert collect(kc.is_complete("%kafka status"))[0]["content"]["status"] == "complete"


@check("history: tail, range, search")
def _():
    ok("const historic = 'h1'")
    tail = collect(kc.history(hist_access_type="tail", n=2))[0]["content"]
    assert tail["status"] == "ok" and tail["history"][-1][2] == "const historic = 'h1'", tail
    line = tail["history"][-1][1]
    ranged = collect(kc.history(hist_access_type="range", session=0, start=line, stop=line + 1))[0]["content"]
    assert [h[2] for h in ranged["history"]] == ["const historic = 'h1'"], ranged
    found = collect(kc.history(hist_access_type="search", pattern="*historic*"))[0]["content"]
    assert [h[2] for h in found["history"]] == ["const historic = 'h1'"], found
    with_output = collect(kc.history(hist_access_type="tail", n=1, output=True))[0]["content"]
    assert with_output["history"][-1][2][0] == "const historic = 'h1'", with_output


@check("comms: round trip with binary buffers, comm_info, close, kernel-side open")
def _():
    ok(
        'import { comms } from "petal";\n'
        'comms.registerTarget("echo", (comm, data, buffers) => {\n'
        '  comm.send({ opened: data }, buffers);\n'
        "  comm.onMsg((d, b) => comm.send({ echo: d, sizes: b.map((x) => x.byteLength) }, b));\n"
        "});"
    )
    comm_id = uuid.uuid4().hex
    open_id = send(kc.shell_channel, "comm_open", {"comm_id": comm_id, "target_name": "echo", "data": {"x": 1}}, [b"\x00\x01"])
    opened = wait_iopub("comm_msg", open_id)
    assert opened["content"]["data"] == {"opened": {"x": 1}} and opened["buffers"][0].tobytes() == b"\x00\x01", opened
    payload = bytes(range(256)) * 4
    msg_id = send(kc.shell_channel, "comm_msg", {"comm_id": comm_id, "data": {"n": 2}}, [payload, b"z"])
    echoed = wait_iopub("comm_msg", msg_id)
    assert echoed["content"]["data"] == {"echo": {"n": 2}, "sizes": [1024, 1]}, echoed["content"]
    assert [b.tobytes() for b in echoed["buffers"]] == [payload, b"z"], "buffers come back byte for byte"
    info = collect(send(kc.shell_channel, "comm_info_request", {"target_name": "echo"}))[0]
    assert info["msg_type"] == "comm_info_reply" and info["content"]["comms"] == {comm_id: {"target_name": "echo"}}, info
    wait_iopub("status", send(kc.shell_channel, "comm_close", {"comm_id": comm_id, "data": {}}))
    info = collect(send(kc.shell_channel, "comm_info_request", {}))[0]
    assert comm_id not in info["content"]["comms"], info
    unknown = send(kc.shell_channel, "comm_open", {"comm_id": "c2", "target_name": "nobody", "data": {}})
    assert wait_iopub("comm_close", unknown)["content"]["comm_id"] == "c2"
    _, outputs = ok('const c = comms.open("petal.test", { a: 1 }, [new Uint8Array([7, 8, 9])]); c.send({ b: 2 }); c.id')
    opens = [m for m in outputs if m["msg_type"] == "comm_open"]
    assert opens and opens[0]["content"]["target_name"] == "petal.test", outputs
    assert opens[0]["buffers"][0].tobytes() == b"\x07\x08\x09", opens


@check("a badly signed message is rejected; a replayed one too")
def _():
    forged = Session(key=b"not-the-key", username="mallory")
    msg = forged.msg("execute_request", {"code": "globalThis.pwned = 1", "silent": False})
    forged.send(kc.shell_channel.socket, msg)
    try:
        reply = kc.get_shell_msg(timeout=1.5)
        raise AssertionError(f"the forged message got a reply: {reply}")
    except Exception as err:  # noqa: BLE001
        if isinstance(err, AssertionError):
            raise
    # a correctly signed message sent twice: the copy is dropped
    msg = kc.session.msg("kernel_info_request", {})
    frames = kc.session.serialize(msg)
    kc.shell_channel.socket.send_multipart(frames)
    kc.shell_channel.socket.send_multipart(frames)
    first = kc.get_shell_msg(timeout=TIMEOUT)
    assert first["parent_header"]["msg_id"] == msg["header"]["msg_id"]
    try:
        reply = kc.get_shell_msg(timeout=1.0)
        raise AssertionError(f"the replayed message got a reply: {reply}")
    except Exception as err:  # noqa: BLE001
        if isinstance(err, AssertionError):
            raise
    _, outputs = ok("typeof (globalThis as any).pwned")
    assert result_text(outputs) == "'undefined'", outputs


@check("input_request for prompt() and confirm()")
def _():
    msg_id = kc.execute('const who = prompt("name?"); const sure = confirm("sure?"); `${who}:${sure}`', allow_stdin=True)
    request = kc.stdin_channel.get_msg(timeout=TIMEOUT)
    assert request["msg_type"] == "input_request" and request["content"]["prompt"] == "name?", request
    kc.input("petal")
    request = kc.stdin_channel.get_msg(timeout=TIMEOUT)
    assert request["content"]["prompt"].startswith("sure?"), request
    kc.input("y")
    reply, outputs = collect(msg_id)
    assert reply["content"]["status"] == "ok" and result_text(outputs) == "'petal:true'", (reply, outputs)
    err = error('prompt("no stdin")', allow_stdin=False)
    assert err["ename"] == "PETAL_STDIN", err


def interrupt_cell(code, how):
    ok("const kept = 42")
    msg_id = kc.execute(code)
    time.sleep(1.0)
    if how == "signal":
        os.kill(kernel.pid, signal.SIGINT)
    else:
        mid = send(kc.control_channel, "interrupt_request", {})
        control = kc.control_channel.get_msg(timeout=TIMEOUT)
        assert control["msg_type"] == "interrupt_reply" and control["parent_header"]["msg_id"] == mid, control
    reply, outputs = collect(msg_id)
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "Interrupted", reply["content"]
    _, outputs = ok("kept")
    assert result_text(outputs) == "42", outputs


@check("interrupt by message: a busy loop ends, earlier variables stay")
def _():
    interrupt_cell("while (true) {}", "message")


@check("interrupt by signal: a busy loop and an endless await end, earlier variables stay")
def _():
    interrupt_cell("for (;;) {}", "signal")
    interrupt_cell("await new Promise(() => {})", "signal")


@check("magics: %help, unknown magic and bad flag list the valid ones")
def _():
    _, outputs = ok("%help")
    text = result_text(outputs)
    assert "%kafka up" in text and "%npm install" in text, text
    err = error("%kafka up --prt 1")
    assert err["ename"] == "PETAL_MAGIC_USAGE" and "--port N" in err["evalue"], err
    err = error("%kafka sideways")
    assert "%kafka status" in err["evalue"], err
    err = error("%%nope\nbody")
    assert err["ename"] == "PETAL_MAGIC_UNKNOWN" and "%kafka" in err["evalue"], err


@check("magics: %npm install a local package, then import it")
def _():
    pkg = os.path.join(WORK, "local-pkg")
    os.makedirs(pkg, exist_ok=True)
    with open(os.path.join(pkg, "package.json"), "w") as f:
        json.dump({"name": "petal-local-pkg", "version": "1.0.0", "main": "index.js"}, f)
    with open(os.path.join(pkg, "index.js"), "w") as f:
        f.write("exports.hello = (who) => `hello ${who}`;\n")
    ok(f"%npm install file:{pkg}")
    _, outputs = ok('import { hello } from "petal-local-pkg";\nhello("npm")')
    assert result_text(outputs) == "'hello npm'", outputs


@check("magics against a real broker: %kafka up|status|down and the typed API")
def _():
    _, outputs = ok("%kafka status")
    assert result_text(outputs).startswith("kafka: down"), outputs
    _, outputs = ok("%kafka up")
    data = of(outputs, "execute_result")[0]["data"]
    assert data["text/plain"].startswith("kafka: up") and "owner      kernel" in data["text/plain"], data
    assert "<table>" in data["text/html"], data
    _, outputs = ok('import { kafka } from "petal";\nconst st = kafka.status(); [st.state, st.owner]')
    assert result_text(outputs) == "[ 'up', 'kernel' ]", outputs
    err = error('kafka.status().nope')
    assert err["ename"] == "TypeScriptError" and "nope" in err["evalue"], err
    _, outputs = ok("%kafka down")
    assert result_text(outputs).startswith("kafka: down"), outputs
    ok("%kafka up --heap-mb 256")


STREAM_MIME = "application/vnd.petal.stream+json"
CLUSTER_MIME = "application/vnd.petal.cluster+json"
TRAIN_MIME = "application/vnd.petal.train+json"
LOGS_MIME = "application/vnd.petal.logs+json"
LIVE_TARGET = "petal.live"
BLOBS = """function blobs(n: number, seed: number) {
  let s = seed >>> 0;
  const rand = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const centers = [[0, 3], [-2.6, -1.5], [2.6, -1.5]];
  return Array.from({ length: n }, (_, i) => ({
    x0: centers[i % 3]![0]! + 0.8 * gauss(),
    x1: centers[i % 3]![1]! + 0.8 * gauss(),
    label: ["a", "b", "c"][i % 3]!,
  }));
}"""
state = {}


def cards(outputs, mime, msg_type=None):
    """The cards of one MIME type among display_data / update_display_data / execute_result, in order."""
    types = [msg_type] if msg_type else ["display_data", "update_display_data", "execute_result"]
    return [m["content"]["data"][mime] for m in outputs if m["msg_type"] in types and mime in m["content"]["data"]]


def live_ends(outputs, mime):
    """The live display: shown with `live`, ended by an update_display_data of the same id without it."""
    shown = [m["content"] for m in outputs if m["msg_type"] == "display_data" and mime in m["content"]["data"]]
    assert len(shown) == 1, f"one {mime} display expected: {outputs}"
    display_id = shown[0]["transient"]["display_id"]
    assert shown[0]["data"][mime]["live"] == {"displayId": display_id}, shown[0]
    updates = [m["content"] for m in outputs if m["msg_type"] == "update_display_data" and mime in m["content"]["data"]]
    assert updates and updates[-1]["transient"]["display_id"] == display_id, updates
    final = updates[-1]["data"]
    assert "live" not in final[mime] and final["text/plain"] and final["text/html"], final
    return final[mime]


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@check("cluster: %%stream of records shows a summary card with rows and partitions; the name resolves to its topic")
def _():
    ok(BLOBS)
    state["features"] = '{ xs: ["x0", "x1"], ys: { column: "label", kind: "onehot" as const } }'
    _, outputs = ok("%%stream blobs --partitions 4\nconst rows = blobs(1500, 1);\nrows")
    card = live_ends(outputs, STREAM_MIME)
    assert card["state"] == "done" and card["rows"] == 1500 and card["totalRows"] == 1500, card
    assert len(card["partitions"]) == 4 and sum(p["rows"] for p in card["partitions"]) == 1500, card
    assert card["topic"].startswith("blobs-"), card
    assert {c["name"] for c in card["schema"]} == {"x0", "x1", "label"}, card
    assert "1500" in result_text(outputs) and "warning" not in result_text(outputs), outputs
    # The same rows grouped by label: streamed, with a warning under the result saying how to shuffle them.
    _, outputs = ok("%%stream sorted --partitions 2\n[...rows].sort((p, q) => p.label.localeCompare(q.label))")
    text = result_text(outputs)
    assert "warning: the rows came ordered by label (3 runs" in text and "shuffle: true" in text, outputs
    ok("%%stream blobs-val --partitions 2\nblobs(600, 2)")
    _, outputs = ok('import { topics } from "petal";\nJSON.stringify(topics())')
    names = json.loads(result_text(outputs).strip("'"))
    assert names["blobs"] == card["topic"] and names["blobs-val"].startswith("blobs-val-"), names
    assert names["sorted"].startswith("sorted-"), names
    err = error("%%stream blobs\nconst nothing = 1;")
    assert err["ename"] == "PETAL_MAGIC_USAGE" and "must end with the data" in err["evalue"], err
    ok("const streamable = [{ a: 1 }];")
    code = "%%stream s --partitions 2\nstreamab"
    c = collect(kc.complete(code, len(code)))[0]["content"]
    assert "streamable" in c["matches"], f"the body of %%stream completes as code: {c}"
    err = error("%%stream s\nconst n: number = 'x';\nn")
    assert err["ename"] == "TypeScriptError" and "2:7" in err["evalue"], f"lines counted from the cell's top: {err}"


@check("cluster: %cluster up --ps 1 --workers 2 shows the cluster panel and task logs; %cluster status")
def _():
    err = error("%cluster up --gpus 2")
    assert err["ename"] == "PETAL_MAGIC_USAGE" and "--ps N" in err["evalue"] and "--workers M" in err["evalue"], err
    err = error("%cluster status")
    assert err["ename"] == "PETAL_CLUSTER_DOWN" and "%cluster up --ps 1 --workers 2" in err["evalue"], err
    _, outputs = ok("%cluster up --ps 1 --workers 2")
    card = live_ends(outputs, CLUSTER_MIME)
    assert card["state"] == "running" and len(card["tasks"]) == 3, card
    assert sorted(t["id"] for t in card["tasks"]) == ["ps:0", "worker:0", "worker:1"], card
    assert all(t["state"] == "up" and t["pid"] > 0 for t in card["tasks"]), card
    stderr = "".join(c["text"] for c in of(outputs, "stream") if c["name"] == "stderr")
    assert "[worker:1] worker:1 joined" in stderr and "[ps:0] ps:0 serving" in stderr, stderr
    state["pids"] = {t["id"]: t["pid"] for t in card["tasks"]}
    _, outputs = ok("%cluster status")
    data = of(outputs, "execute_result")[0]["data"]
    status = data[CLUSTER_MIME]
    assert [t["state"] for t in status["tasks"]] == ["up", "up", "up"] and "live" not in status, status
    assert all(t["heartbeatAgeMs"] < 5000 for t in status["tasks"]), status
    assert "<table>" in data["text/html"] and "worker:1" in data["text/plain"], data
    err = error("%cluster up --workers 1")
    assert err["ename"] == "PETAL_CLUSTER_UP" and "%cluster down" in err["evalue"], err


def train_cell(code, on_display, on_comm=None, mime=TRAIN_MIME):
    """Runs a training cell; on_display(display_id) is called when its live card appears, on_comm(msg) on each comm
    message. Returns the reply, the cell's iopub messages, and every comm message (whatever its parent: a comm
    answers its own open first)."""
    msg_id = kc.execute(code)
    outputs, comm = [], []
    while True:
        msg = kc.get_iopub_msg(timeout=TIMEOUT * 3)
        if msg["msg_type"].startswith("comm_"):
            comm.append(msg)
            if on_comm:
                on_comm(msg)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        outputs.append(msg)
        if msg["msg_type"] == "display_data" and mime in msg["content"]["data"]:
            on_display(msg["content"]["transient"]["display_id"])
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
    while True:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply, outputs, comm


@check("cluster: %train of a tiny model learns; live comm updates, final update_display_data")
def _():
    ok(
        'import { tf } from "petal";\n'
        "const model = tf.sequential({ layers: [\n"
        '  tf.layers.dense({ units: 16, activation: "relu", inputShape: [2], name: "hidden" }),\n'
        '  tf.layers.dense({ units: 3, activation: "softmax", name: "out" }),\n'
        "] });\n"
        f"const features = {state['features']};\n"
        'const opts = { model, optimizer: { name: "adam" as const, learningRate: 0.02 }, loss: "categoricalCrossentropy",\n'
        '  metrics: ["accuracy"], feeds: { train: { topic: "blobs", features }, validation: { topic: "blobs-val", features } },\n'
        "  batchSize: 32, epochs: 1, seed: 7 };"
    )
    comm_id = uuid.uuid4().hex
    opened = []

    def follow(display_id):
        opened.append(send(kc.shell_channel, "comm_open", {"comm_id": comm_id, "target_name": LIVE_TARGET, "data": {"displayId": display_id}}))

    reply, outputs, comm = train_cell("%train opts --epochs 3", follow)
    assert reply["content"]["status"] == "ok", (reply["content"], of(outputs, "error"))
    card = live_ends(outputs, TRAIN_MIME)
    assert card["state"] == "done" and card["epochs"] == 3 and card["workers"] == 2, card
    assert [e["epoch"] for e in card["epochPoints"]] == [0, 1, 2], card["epochPoints"]
    accuracy = card["epochPoints"][-1]["validation"]["metrics"]["accuracy"]
    assert accuracy > 0.9, f"validation accuracy {accuracy}: the model did not learn"
    assert 0 < len(card["steps"]) <= 500 and card["modelPath"].endswith("model.json"), card
    assert "validation" in result_text(outputs) and "accuracy" in result_text(outputs), outputs
    assert opened, "the live card was shown"
    updates = [m["content"]["data"] for m in comm if m["msg_type"] == "comm_msg" and m["content"]["comm_id"] == comm_id]
    closed = [m for m in comm if m["msg_type"] == "comm_close" and m["content"]["comm_id"] == comm_id]
    assert updates and closed, f"{len(updates)} LiveUpdates, closed: {bool(closed)}"
    assert all(u["kind"] == "train" for u in updates), updates
    assert updates[-1]["card"]["state"] == "done" and "live" not in updates[-1]["card"], updates[-1]



@check("cluster: %logs shows the workers' lines; %logs TASK one task's")
def _():
    _, outputs = ok("%logs")
    card = of(outputs, "execute_result")[0]["data"][LOGS_MIME]
    tasks = {line["task"] for line in card["lines"]}
    assert {"ps:0", "worker:0", "worker:1"} <= tasks, card
    assert any("worker:0 joined" in line["text"] for line in card["lines"]), card
    _, outputs = ok("%logs worker:1")
    data = of(outputs, "execute_result")[0]["data"]
    assert {line["task"] for line in data[LOGS_MIME]["lines"]} == {"worker:1"}, data
    assert "[worker:1] worker:1 joined" in data["text/plain"], data


def follow_steps(at_step, act, field="step"):
    """on_display/on_comm for train_cell: follows the live card over a comm and calls act() once, the first time
    the card's field (a training card's step, a stream card's rows) reaches at_step."""
    comm_id = uuid.uuid4().hex
    done = []

    def on_display(display_id):
        send(kc.shell_channel, "comm_open", {"comm_id": comm_id, "target_name": LIVE_TARGET, "data": {"displayId": display_id}})

    def on_comm(msg):
        if done or msg["msg_type"] != "comm_msg" or msg["content"]["comm_id"] != comm_id:
            return
        if msg["content"]["data"]["card"][field] >= at_step:
            done.append(True)
            act()

    return on_display, on_comm, done


@check("cluster: SIGKILL of a worker mid-%train: one line names it, the job rolls back and finishes; restarts counted")
def _():
    _, outputs = ok("%cluster status")
    before = of(outputs, "execute_result")[0]["data"][CLUSTER_MIME]
    assert before["restarts"] == 0 and before["maxRestarts"] == 3, before
    victim = next(t["pid"] for t in before["tasks"] if t["id"] == "worker:1")
    ckpt = os.path.join(WORK, "ckpt-failover")
    on_display, on_comm, killed = follow_steps(8, lambda: os.kill(victim, signal.SIGKILL))
    reply, outputs, _ = train_cell(
        f'%train {{ ...opts, checkpoint: {{ dir: {json.dumps(ckpt)}, everySteps: 4 }} }} --epochs 6', on_display, on_comm
    )
    assert killed, "the card reached step 8 and worker:1 was killed"
    assert reply["content"]["status"] == "ok", (reply["content"], of(outputs, "error"))
    card = live_ends(outputs, TRAIN_MIME)
    assert card["state"] == "done" and len(card["epochPoints"]) == 6, card
    rollbacks = card.get("rollbacks", [])
    assert [(r["task"], r["cause"]) for r in rollbacks] == [("worker:1", "was killed (SIGKILL)")], rollbacks
    assert rollbacks[0]["toStep"] % 4 == 0 and rollbacks[0]["toStep"] <= card["step"], rollbacks
    stderr = "".join(c["text"] for c in of(outputs, "stream") if c["name"] == "stderr")
    line = f"worker:1 was killed (SIGKILL); replacing it and rolling back to step {rollbacks[0]['toStep']}"
    assert line in stderr, stderr[-3000:]
    assert "worker:1 was killed (SIGKILL): replaced, rolled back" in of(outputs, "update_display_data")[-1]["data"]["text/plain"]
    _, outputs = ok("%cluster status")
    after = of(outputs, "execute_result")[0]["data"]
    status = after[CLUSTER_MIME]
    assert status["state"] == "running" and status["restarts"] >= 1, status
    worker = next(t for t in status["tasks"] if t["id"] == "worker:1")
    assert worker["restarts"] >= 1 and worker["pid"] != victim and worker["state"] == "up", worker
    assert "1 of 3 worker restarts used" in after["text/plain"], after["text/plain"]
    assert not alive(victim)
    state["pids"] = {t["id"]: t["pid"] for t in status["tasks"]}


@check("cluster: interrupting %%stream stops it (PETAL_STREAM_ABORTED), the card fails, the name is not kept")
def _():
    # An endless stream of chunks: only an interrupt ends it.
    ok("async function* endless() { for (;;) yield Array.from({ length: 20_000 }, (_, i) => ({ x: i, y: i * 2 })); }")
    mids = []
    on_display, on_comm, interrupted = follow_steps(
        1, lambda: mids.append(send(kc.control_channel, "interrupt_request", {})), field="rows"
    )
    reply, outputs, _ = train_cell("%%stream big --partitions 2\nendless()", on_display, on_comm, mime=STREAM_MIME)
    assert interrupted, "the card showed rows and the cell was interrupted"
    control = kc.control_channel.get_msg(timeout=TIMEOUT)
    assert control["msg_type"] == "interrupt_reply" and control["parent_header"]["msg_id"] == mids[0], control
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "PETAL_STREAM_ABORTED", content
    card = live_ends(outputs, STREAM_MIME)
    assert card["state"] == "failed" and card["rows"] > 0 and card["error"]["code"] == "PETAL_STREAM_ABORTED", card
    _, outputs = ok('JSON.stringify(topics())')
    assert "big" not in json.loads(result_text(outputs).strip("'")), outputs


@check("cluster: interrupting a %train cell stops the job (PETAL_TRAIN_ABORTED); the next %train on the cluster runs")
def _():
    mids = []
    on_display, on_comm, interrupted = follow_steps(
        3, lambda: mids.append(send(kc.control_channel, "interrupt_request", {}))
    )
    reply, outputs, _ = train_cell("%train opts --epochs 50", on_display, on_comm)
    assert interrupted, "the card reached step 3 and the cell was interrupted"
    control = kc.control_channel.get_msg(timeout=TIMEOUT)
    assert control["msg_type"] == "interrupt_reply" and control["parent_header"]["msg_id"] == mids[0], control
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "PETAL_TRAIN_ABORTED", content
    assert "cluster is still up" in content["evalue"], content
    card = live_ends(outputs, TRAIN_MIME)
    assert card["state"] == "failed" and card["error"]["code"] == "PETAL_TRAIN_ABORTED", card
    assert len(card["epochPoints"]) < 50, card["epochPoints"]
    _, outputs = ok("%cluster status")
    status = of(outputs, "execute_result")[0]["data"][CLUSTER_MIME]
    assert status["state"] == "running" and {t["id"]: t["pid"] for t in status["tasks"]} == state["pids"], status
    reply, outputs, _ = train_cell("%train opts --epochs 1", lambda _id: None)
    assert reply["content"]["status"] == "ok", (reply["content"], of(outputs, "error"))
    assert live_ends(outputs, TRAIN_MIME)["state"] == "done"


@check("cluster: a remote task's error fails the cell with its PetalError; %cluster down stops every task; up --max-restarts 0")
def _():
    # worker:0 builds the model from the feed's columns: a column the topic lacks fails there, named, with a fix
    reply, outputs, _ = train_cell(
        '%train { ...opts, feeds: { train: { topic: "blobs", features: { xs: ["x0", "nope"], ys: "label" } } } }',
        lambda _id: None,
    )
    content = reply["content"]
    assert content["status"] == "error" and content["ename"].startswith("PETAL_"), content
    assert "worker:" in content["evalue"] and "nope" in content["evalue"] and "fix:" in content["evalue"], content
    card = cards(outputs, TRAIN_MIME, "update_display_data")[-1]
    assert card["state"] == "failed" and "nope" in card["error"]["message"], card
    _, outputs = ok("%cluster down")
    assert of(outputs, "execute_result")[0]["data"][CLUSTER_MIME]["state"] == "stopped", outputs
    time.sleep(0.3)
    assert [pid for pid in state["pids"].values() if alive(pid)] == [], "a task outlived %cluster down"
    err = error("%train opts")
    assert err["ename"] == "PETAL_CLUSTER_DOWN" and "%cluster up --ps 1 --workers 2" in err["evalue"], err
    err = error("%cluster up --max-restarts many")
    assert err["ename"] == "PETAL_MAGIC_USAGE" and "--max-restarts must be an integer from 0 to 1000" in err["evalue"], err
    # up again: the shutdown check below stops it with the kernel
    _, outputs = ok("%cluster up --ps 1 --workers 1 --max-restarts 0")
    card = live_ends(outputs, CLUSTER_MIME)
    assert (card["restarts"], card["maxRestarts"]) == (0, 0), card
    state["pids"] = {t["id"]: t["pid"] for t in card["tasks"]}


@check("shutdown on control stops the broker and the cluster and leaves no child process")
def _():
    tree = children(kernel.pid)
    assert tree, "the broker runs under the kernel"
    assert set(state.get("pids", {}).values()) <= set(tree), "the cluster's tasks run under the kernel"
    mid = send(kc.control_channel, "shutdown_request", {"restart": False})
    try:
        # each thing the kernel started has 40 s to stop (resources.ts): the cluster, then the broker
        reply = kc.control_channel.get_msg(timeout=2 * 40 + 10)
    except Exception as err:  # noqa: BLE001
        left = {}
        for pid in tree:
            try:
                left[pid] = open(f"/proc/{pid}/cmdline").read().replace("\0", " ")[:160]
            except OSError:
                pass
        raise AssertionError(f"no shutdown_reply; still running: {left}") from err
    assert reply["msg_type"] == "shutdown_reply" and reply["content"]["status"] == "ok", reply
    assert reply["parent_header"]["msg_id"] == mid
    assert kernel.wait(timeout=TIMEOUT) == 0
    time.sleep(0.5)
    left = [pid for pid in tree if os.path.exists(f"/proc/{pid}") and open(f"/proc/{pid}/stat").read().split()[2] != "Z"]
    assert left == [], f"still running: {left}"


kc.stop_channels()
if kernel.poll() is None:
    os.killpg(kernel.pid, signal.SIGKILL)
