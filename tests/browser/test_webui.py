#!/usr/bin/python3
"""The master's web UI in a real browser (headless Debian chromium driven by python3-selenium).

Cases (each prints PASS/FAIL/SKIP; the exit status is 1 when one failed, 77 when the browser
or selenium is missing, else 0):
  overview   real mesos-master + mesos-agent: the overview shows the agent and its resources
  task       a task started with mesos-execute shows RUNNING and then FINISHED without a reload,
             and its stdout opens in the sandbox view with the task's output
  pages      every page renders (agents, agent, frameworks, framework, tasks, roles, offers),
             and the header's find box opens a task's and an agent's page
  standby    two masters on ZooKeeper: the standby serves the page and links to the leader
             (skipped when ZooKeeper is not installed)
  console    no errors in the browser's console during the cases above
  unreachable  the agent is killed: the task's sandbox view says the agent is unreachable
  secure     TLS on every hop and HTTP authentication on master and agent: the page works with
             the browser's credentials and reads the agent's statistics through the master
  scale      a generated state of 10,000 agents and 100,000 tasks served by a small test server
             (the page's own files from webui/): the overview renders within 1 s and the task
             list is virtualized (the time is printed; CMESOS_WEBUI_SCALE_MS changes the bound;
             on a machine too loaded for a 10-agent cluster's overview to make the bound, within
             1.5 x that one's time instead)
Screenshots of each page go to $CMESOS_SCREENSHOT_DIR (default <build>/webui-screenshots).
Usage: test_webui.py <build dir> <source dir>
"""
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SKIP = 77


def log(msg):
    print(msg, flush=True)


try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import StaleElementReferenceException
except ImportError:
    log("SKIP: python3-selenium is not installed (apt-get install python3-selenium)")
    sys.exit(SKIP)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not os.access(CHROMIUM, os.X_OK) or not os.access(DRIVER, os.X_OK):
    log("SKIP: chromium and chromium-driver are needed (apt-get install chromium chromium-driver)")
    sys.exit(SKIP)

BUILD = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
SRC = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else ".")
BIN = os.path.join(BUILD, "bin")
SHOTS = os.environ.get("CMESOS_SCREENSHOT_DIR", os.path.join(BUILD, "webui-screenshots"))
os.makedirs(SHOTS, exist_ok=True)

procs = []
results = []


def spawn(name, argv, logpath):
    f = open(logpath, "wb")
    p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    procs.append((name, p, logpath))
    return p


def stop_all():
    for name, p, _ in reversed(procs):
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    for name, p, _ in procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def tail(path, n=3000):
    try:
        with open(path, "rb") as f:
            return f.read()[-n:].decode(errors="replace")
    except OSError:
        return ""


def wait_port_file(path, p, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open(path) as f:
                v = f.read().strip()
            if v:
                return int(v)
        except OSError:
            pass
        if p.poll() is not None:
            raise RuntimeError(f"{what} exited during start-up")
        time.sleep(0.05)
    raise RuntimeError(f"{what} wrote no port file within {timeout} s")


def get_json(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return json.load(r)


def until(fn, timeout, what, interval=0.1):
    end = time.time() + timeout
    last = None
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # the page may be between renders
            last = e
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f" ({last})" if last else ""))


def case(name):
    def wrap(fn):
        def run(*a):
            t0 = time.time()
            try:
                fn(*a)
                results.append((name, "PASS", ""))
                log(f"PASS {name} ({time.time() - t0:.1f} s)")
            except Skip as s:
                results.append((name, "SKIP", str(s)))
                log(f"SKIP {name}: {s}")
            except Exception as e:
                results.append((name, "FAIL", str(e)))
                log(f"FAIL {name}: {e}")
        return run
    return wrap


class Skip(Exception):
    pass


def browser(extra=()):
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in (*extra, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1400,1000", "--no-first-run", "--disable-extensions"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    d = webdriver.Chrome(service=Service(DRIVER), options=opts)
    d.set_page_load_timeout(30)
    return d


def shot(d, name):
    d.save_screenshot(os.path.join(SHOTS, name + ".png"))


def text(d, css, timeout=5):
    """The element's text. Pages re-render on every state update and replace their elements,
    so one found may be gone before its text is read (a stale element, more likely the slower
    the machine): find it again until a read lands or timeout seconds pass."""
    end = time.time() + timeout
    while True:
        try:
            return d.find_element(By.CSS_SELECTOR, css).text
        except StaleElementReferenceException:
            if time.time() >= end:
                raise
            time.sleep(0.02)


console_errors = []


def collect_console(d):
    for e in d.get_log("browser"):
        if e.get("level") == "SEVERE":
            console_errors.append(e.get("message", ""))


def click(d, by, sel, timeout=10):
    """Clicks an element; pages re-render on updates, so a found element may go stale before
    the click: find it again until the click lands."""
    def attempt():
        d.find_element(by, sel).click()
        return True
    until(attempt, timeout, f"a clickable {sel}")


def go(d, url_or_hash):
    """Moves within the page (hash change: no reload) or loads a URL."""
    if url_or_hash.startswith("#"):
        d.execute_script("location.hash = arguments[0]", url_or_hash)
    else:
        d.get(url_or_hash)


# ---- the real cluster ----------------------------------------------------------------------

def start_cluster(tmp):
    mdir = os.path.join(tmp, "master")
    adir = os.path.join(tmp, "agent")
    os.makedirs(mdir)
    os.makedirs(adir)
    m = spawn("mesos-master", [os.path.join(BIN, "mesos-master"), "--ip=127.0.0.1", "--port=0",
                               f"--port_file={tmp}/master.port", f"--work_dir={mdir}"],
              f"{tmp}/master.log")
    mport = wait_port_file(f"{tmp}/master.port", m, "mesos-master")
    a = spawn("mesos-agent", [os.path.join(BIN, "mesos-agent"), f"--master=127.0.0.1:{mport}",
                              "--ip=127.0.0.1", "--port=0", f"--port_file={tmp}/agent.port",
                              f"--work_dir={adir}", "--resources=cpus:2;mem:1024;disk:2048"],
              f"{tmp}/agent.log")
    wait_port_file(f"{tmp}/agent.port", a, "mesos-agent")
    until(lambda: len(get_json(mport, "/master/slaves")["slaves"]) == 1, 20, "the agent to register")
    return mport


@case("overview")
def case_overview(d, port):
    go(d, f"http://127.0.0.1:{port}/")
    d.execute_script("window.__loadedOnce = 1")
    until(lambda: text(d, "#agents-active") == "1", 15, "the overview to count 1 active agent")
    until(lambda: "2" == text(d, "#resources tr[data-resource=cpus] td.total"), 10, "2 cpus in total")
    mem = text(d, "#resources tr[data-resource=mem] td.total")
    assert mem == "1.0 GB", f"mem total shows {mem!r}, expected 1.0 GB"
    disk = text(d, "#resources tr[data-resource=disk] td.total")
    assert disk == "2.0 GB", f"disk total shows {disk!r}, expected 2.0 GB"
    assert text(d, "#leader") == f"127.0.0.1:{port}", "the leader is not this master"
    until(lambda: "live" in text(d, "#live"), 10, "the operator API stream to be up")
    shot(d, "overview")


@case("task")
def case_task(d, port, tmp):
    marker = f"hello-from-webui-{os.getpid()}"
    ex = spawn("mesos-execute", [os.path.join(BIN, "mesos-execute"), f"--master=127.0.0.1:{port}",
                                 "--name=webui-task", f"--command=echo {marker}; sleep 5",
                                 "--framework_name=webui-test"], f"{tmp}/execute.log")
    go(d, "#/tasks")

    def running_row():
        for row in d.find_elements(By.CSS_SELECTOR, "[data-table=tasks] .vt-row"):
            if "webui-task" in row.text and "RUNNING" in row.text:
                return row
        return None
    until(running_row, 30, "the task to show RUNNING in the task list")
    shot(d, "tasks")
    st = get_json(port, "/master/state")
    fw = next(f for f in st["frameworks"] if f["name"] == "webui-test")
    go(d, f"#/tasks/{fw['id']}/webui-task")
    until(lambda: text(d, "#task-state") == "RUNNING", 10, "the task page to show RUNNING")
    shot(d, "task")
    until(lambda: text(d, "#task-state") == "FINISHED", 30, "the task page to show FINISHED")
    assert d.execute_script("return window.__loadedOnce") == 1, "the page was reloaded"
    shot(d, "task-finished")
    ex.wait(timeout=30)
    click(d, By.ID, "sandbox-stdout")
    until(lambda: marker in text(d, "#log"), 15, "the sandbox view to show the task's stdout")
    shot(d, "sandbox-stdout")
    go(d, f"#/tasks/{fw['id']}/webui-task")
    click(d, By.ID, "sandbox-dir")
    until(lambda: d.find_element(By.CSS_SELECTOR, "#files a[data-file=stdout]"), 15, "the sandbox listing")
    shot(d, "sandbox")
    # Download through the master (same origin), checked outside the browser.
    href = until(lambda: d.find_element(By.CSS_SELECTOR, "#files tr a[href*='download']").get_attribute("href"),
                 10, "a download link")
    with urllib.request.urlopen(href, timeout=10) as r:
        assert r.status == 200, f"download answered {r.status}"


@case("pages")
def case_pages(d, port):
    st = get_json(port, "/master/state")
    agent = st["slaves"][0]["id"]
    fws = st["frameworks"] + st.get("completed_frameworks", [])
    go(d, "#/agents")
    until(lambda: agent in text(d, "[data-table=agents]"), 10, "the agent in the agent list")
    shot(d, "agents")
    go(d, f"#/agents/{agent}")
    until(lambda: d.find_element(By.ID, "used"), 15, "the agent's used resources (its statistics)")
    assert len(d.find_elements(By.CSS_SELECTOR, "#usage-plots .uplot")) == 2, "no allocated-vs-used plots"
    # The cpu rate needs two samples of the statistics (5 s apart).
    until(lambda: "measuring" not in text(d, "#used"), 20, "a measured cpu rate")
    shot(d, "agent")
    go(d, "#/frameworks")
    if not st["frameworks"]:
        click(d, By.XPATH, "//button[text()='completed']")
    until(lambda: "webui-test" in text(d, "[data-table=frameworks]"), 10, "the framework in the list")
    shot(d, "frameworks")
    go(d, f"#/frameworks/{fws[0]['id']}")
    until(lambda: "webui-test" in text(d, "h1"), 10, "the framework page")
    shot(d, "framework")
    go(d, "#/roles")
    until(lambda: d.find_element(By.ID, "roles"), 10, "the roles table")
    shot(d, "roles")
    go(d, "#/offers")
    until(lambda: d.find_element(By.CSS_SELECTOR, "[data-table=offers]"), 10, "the offers table")
    shot(d, "offers")
    # The header's find box: a task id opens the task's page, an agent id the agent's.
    box = d.find_element(By.ID, "find-q")
    box.clear()
    box.send_keys("webui-task\n")
    until(lambda: "webui-task" in text(d, "h1") and "#/tasks/" in d.current_url, 10,
          "the find box to open the task's page")
    box.clear()
    box.send_keys(agent + "\n")
    until(lambda: d.current_url.endswith("#/agents/" + agent), 10, "the find box to open the agent's page")
    # The overview again, now that the plots hold the task's launch and finish.
    go(d, "#/")
    until(lambda: text(d, "#task-counts [data-state=TASK_FINISHED]").endswith("1"), 15,
          "the overview to count the finished task")
    shot(d, "overview")


@case("unreachable")
def case_unreachable(d, port):
    """The agent dies: the task's page and its sandbox say the agent cannot be reached."""
    agent_proc = next(p for name, p, _ in procs if name == "mesos-agent")
    os.kill(agent_proc.pid, signal.SIGKILL)
    agent_proc.wait(timeout=10)
    st = get_json(port, "/master/state")
    fw = next(f for f in st["frameworks"] + st.get("completed_frameworks", []) if f["name"] == "webui-test")
    go(d, f"http://127.0.0.1:{port}/#/tasks/{fw['id']}/webui-task")  # the standby case moved away

    # While the master still lists the agent the links are there and the read fails with a
    # message; once it no longer does, the task's page says so in place of the links.
    def verdict():
        gone = d.find_elements(By.ID, "sandbox-unreachable")
        if gone:
            return "task page: " + gone[0].text
        links = d.find_elements(By.ID, "sandbox-stdout")
        if links:
            links[0].click()
            return "sandbox: " + until(lambda: text(d, "#sandbox-error"), 20, "the sandbox error")
        return None
    try:
        msg = until(verdict, 20, "the page to say the agent cannot be reached")
    except AssertionError:
        shot(d, "unreachable-failed")
        log("unreachable: page text: " + d.find_element(By.TAG_NAME, "body").text[:800])
        raise
    assert "unreachable" in msg, f"the page says {msg!r}"
    log(f"unreachable: {msg}")
    shot(d, "sandbox-unreachable")


def zk_start(tmp):
    java = shutil.which("java")
    jar = "/usr/share/java/zookeeper.jar"
    if not java or not os.path.exists(jar):
        raise Skip("ZooKeeper is not installed (Debian package 'zookeeper')")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    os.makedirs(f"{tmp}/zk/data")
    with open(f"{tmp}/zk/zoo.cfg", "w") as f:
        f.write(f"tickTime=500\ndataDir={tmp}/zk/data\nclientPort={port}\n"
                "clientPortAddress=127.0.0.1\nadmin.enableServer=false\n"
                "4lw.commands.whitelist=ruok,srvr\n")
    spawn("zookeeper", [java, "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                        "-Dzookeeper.admin.enableServer=false", "-cp", jar,
                        "org.apache.zookeeper.server.ZooKeeperServerMain", f"{tmp}/zk/zoo.cfg"],
          f"{tmp}/zk.log")

    def ruok():
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"srvr")
            return b"Zookeeper version" in s.recv(4096)
    until(ruok, 30, "ZooKeeper to serve", 0.2)
    return port


@case("standby")
def case_standby(d, tmp):
    zport = zk_start(tmp)
    ports = []
    for i in (1, 2):
        os.makedirs(f"{tmp}/ha{i}")
        p = spawn(f"mesos-master-{i}", [os.path.join(BIN, "mesos-master"), "--ip=127.0.0.1", "--port=0",
                                       f"--port_file={tmp}/ha{i}.port", f"--work_dir={tmp}/ha{i}",
                                       f"--zk=zk://127.0.0.1:{zport}/webui", "--quorum=1",
                                       "--zk_session_timeout=3secs"], f"{tmp}/ha{i}.log")
        ports.append(wait_port_file(f"{tmp}/ha{i}.port", p, f"mesos-master {i}"))

    def leader():
        for p in ports:
            info = get_json(p, "/webui/leader")
            if info["leading"]:
                return p
        return None
    lead = until(leader, 30, "one master to lead")
    standby = ports[1] if lead == ports[0] else ports[0]
    until(lambda: get_json(standby, "/webui/leader")["leader"] == f"127.0.0.1:{lead}", 15,
          "the standby to know the leader")
    go(d, f"http://127.0.0.1:{standby}/")
    href = until(lambda: d.find_element(By.ID, "leader-link").get_attribute("href"), 15,
                 "the standby banner's leader link")
    assert href == f"http://127.0.0.1:{lead}/", f"the standby links to {href}, not the leader"
    assert "standby" in text(d, "#banner").lower()
    shot(d, "standby")
    click(d, By.ID, "leader-link")
    until(lambda: d.current_url.startswith(f"http://127.0.0.1:{lead}/"), 10, "the leader's page")
    until(lambda: text(d, "#leader") == f"127.0.0.1:{lead}", 15, "the leader's overview")


def make_tls(tmp):
    """A CA and one certificate for 127.0.0.1, as scripts/quickstart.sh makes them."""
    d = os.path.join(tmp, "tls")
    os.makedirs(d)
    def run(*argv):
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
        "/CN=webui test CA", "-keyout", f"{d}/ca.key", "-out", f"{d}/ca.pem")
    with open(f"{d}/san.ext", "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout",
        f"{d}/node.key", "-out", f"{d}/node.csr")
    run("openssl", "x509", "-req", "-in", f"{d}/node.csr", "-CA", f"{d}/ca.pem", "-CAkey",
        f"{d}/ca.key", "-CAcreateserial", "-days", "2", "-extfile", f"{d}/san.ext", "-out",
        f"{d}/node.pem")
    return d


@case("secure")
def case_secure(tmp):
    """TLS on every hop and HTTP authentication on the master and the agent: the page works with
    the browser's Basic credentials, and the agent's statistics come through the master over
    TLS with the credentials passed on."""
    if not shutil.which("openssl"):
        raise Skip("openssl is not installed")
    d = make_tls(tmp)
    env = dict(os.environ, LIBPROCESS_SSL_ENABLED="true", LIBPROCESS_SSL_CERT_FILE=f"{d}/node.pem",
               LIBPROCESS_SSL_KEY_FILE=f"{d}/node.key", LIBPROCESS_SSL_CA_FILE=f"{d}/ca.pem",
               LIBPROCESS_SSL_VERIFY_CERT="true")
    creds = f"{tmp}/http_credentials.json"
    with open(creds, "w") as f:
        f.write('{"credentials": [{"principal": "operator", "secret": "s3cret"}]}')
    os.chmod(creds, 0o600)
    os.makedirs(f"{tmp}/smaster")
    os.makedirs(f"{tmp}/sagent")

    def spawn_env(name, argv, logpath):
        f = open(logpath, "wb")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        procs.append((name, p, logpath))
        return p
    m = spawn_env("mesos-master-tls", [os.path.join(BIN, "mesos-master"), "--ip=127.0.0.1", "--port=0",
                                       f"--port_file={tmp}/smaster.port", f"--work_dir={tmp}/smaster",
                                       "--authenticate_http_readonly", f"--http_credentials={creds}"],
                  f"{tmp}/smaster.log")
    mport = wait_port_file(f"{tmp}/smaster.port", m, "mesos-master (TLS)")
    a = spawn_env("mesos-agent-tls", [os.path.join(BIN, "mesos-agent"), f"--master=127.0.0.1:{mport}",
                                      "--ip=127.0.0.1", "--port=0", f"--port_file={tmp}/sagent.port",
                                      f"--work_dir={tmp}/sagent", "--resources=cpus:1;mem:512;disk:512",
                                      "--authenticate_http_readonly", f"--http_credentials={creds}"],
                  f"{tmp}/sagent.log")
    wait_port_file(f"{tmp}/sagent.port", a, "mesos-agent (TLS)")
    d2 = browser(["--ignore-certificate-errors"])
    try:
        # Headless chromium cannot answer its own Basic prompt: the credentials go in the URL
        # of a first request, which leaves them in the browser's cache for the master's realm,
        # as an operator's answer to the prompt would. The page's requests then carry them.
        go(d2, f"https://operator:s3cret@127.0.0.1:{mport}/master/health")
        go(d2, f"https://operator:s3cret@127.0.0.1:{mport}/webui/leader")
        go(d2, f"https://127.0.0.1:{mport}/")
        until(lambda: text(d2, "#agents-active") == "1", 20, "the overview over TLS after signing in")
        until(lambda: "live" in text(d2, "#live"), 10, "the operator API stream over TLS")
        agent = until(lambda: d2.execute_script(
            "return fetch('/master/slaves', {headers: {Authorization: 'Basic ' + btoa('operator:s3cret')}})"
            ".then(r => r.json()).then(j => j.slaves[0].id)"), 10, "the agent's id")
        go(d2, f"#/agents/{agent}")
        until(lambda: d2.find_element(By.ID, "used"), 15, "the agent's statistics through the master over TLS")
    except Exception:
        shot(d2, "secure-failed")
        log("secure: page text: " + d2.find_element(By.TAG_NAME, "body").text[:500])
        for e in d2.get_log("browser"):
            log("secure: console: " + e.get("message", ""))
        raise
    finally:
        d2.quit()


# ---- the scale test: a generated state behind a small server -------------------------------

def big_state(n_agents, n_tasks):
    now = time.time()
    agents = []
    for i in range(n_agents):
        agents.append({"id": f"S{i:05d}", "pid": f"slave(1)@10.{i // 65536}.{i // 256 % 256}.{i % 256}:5051",
                       "hostname": f"agent-{i:05d}.example", "active": True, "registered_time": now - 86400 + i,
                       "resources": {"cpus": 32.0, "mem": 131072.0, "disk": 1048576.0, "gpus": 0.0},
                       "used_resources": {"cpus": 10.0, "mem": 40960.0, "disk": 0.0, "gpus": 0.0},
                       "offered_resources": {"cpus": 0.0, "mem": 0.0, "disk": 0.0, "gpus": 0.0},
                       "attributes": {"rack": f"r{i % 40}"}, "version": "1.11.0"})
    fws = []
    per_fw = n_tasks // 10
    for f in range(10):
        tasks = []
        for j in range(per_fw):
            k = f * per_fw + j
            tasks.append({"id": f"task-{k:06d}", "name": f"job-{f}-{j}", "framework_id": f"F{f}",
                          "executor_id": "", "slave_id": f"S{k % n_agents:05d}", "state": "TASK_RUNNING",
                          "resources": {"cpus": 1.0, "mem": 4096.0, "disk": 0.0, "gpus": 0.0},
                          "role": "*", "statuses": [{"state": "TASK_RUNNING", "timestamp": now - 3600 + k * 0.03}]})
        fws.append({"id": f"F{f}", "name": f"framework-{f}", "active": True, "connected": True,
                    "roles": ["*"], "principal": "p", "registered_time": now - 86400,
                    "used_resources": {"cpus": per_fw, "mem": 4096.0 * per_fw}, "offered_resources": {},
                    "tasks": tasks, "completed_tasks": [], "unreachable_tasks": [], "offers": []})
    return {"id": "big", "version": "1.11.0", "slaves": agents, "frameworks": fws,
            "completed_frameworks": [], "activated_slaves": n_agents, "deactivated_slaves": 0,
            "unreachable_slaves": 0}


def scale_server(n_agents, n_tasks):
    state = json.dumps(big_state(n_agents, n_tasks)).encode()
    metrics = json.dumps({
        "master/uptime_secs": 3600, "master/elected": 1, "master/slaves_active": n_agents,
        "master/slaves_inactive": 0, "master/slaves_unreachable": 0, "master/frameworks_active": 10,
        "master/frameworks_inactive": 0, "master/outstanding_offers": 0,
        "master/tasks_running": n_tasks, "master/cpus_total": 32.0 * n_agents,
        "master/cpus_used": 10.0 * n_agents, "master/mem_total": 131072.0 * n_agents,
        "master/mem_used": 40960.0 * n_agents, "master/disk_total": 1048576.0 * n_agents,
        "master/disk_used": 0, "master/gpus_total": 0, "master/gpus_used": 0}).encode()
    webui = os.path.join(SRC, "webui")

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, body, ctype="application/json", code=200):
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            path = self.path.split("?")[0]
            if path == "/":
                path = "/webui/index.html"
            if path == "/webui/leader":
                host = f"127.0.0.1:{self.server.server_address[1]}"
                return self.send(json.dumps({"leading": True, "leader": host, "self": host}).encode())
            if path == "/version":
                return self.send(b'{"version":"1.11.0"}')
            if path == "/metrics/snapshot":
                return self.send(metrics)
            if path == "/master/state":
                return self.send(state)
            if path.startswith("/webui/") and ".." not in path:
                f = os.path.join(webui, path[len("/webui/"):])
                if os.path.isfile(f):
                    ctype = {"js": "text/javascript", "css": "text/css", "html": "text/html",
                             "svg": "image/svg+xml"}.get(f.rsplit(".", 1)[-1], "text/plain")
                    with open(f, "rb") as fh:
                        return self.send(fh.read(), ctype)
            self.send(b"not found", "text/plain", 404)

        def do_POST(self):  # SUBSCRIBE: one small record, then the stream stays open
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            rec = b'{"type":"HEARTBEAT"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(str(len(rec)).encode() + b"\n" + rec)
            self.wfile.flush()
            time.sleep(60)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, len(state)


@case("scale")
def case_scale(d):
    n_agents, n_tasks = 10000, 100000
    srv, size = scale_server(n_agents, n_tasks)
    port = srv.server_address[1]
    # The same page against a small cluster, loaded in turn with the big one: what the machine's
    # load does to a load of the page, whatever the cluster's size.
    small, _ = scale_server(10, 100)
    bound = float(os.environ.get("CMESOS_WEBUI_SCALE_MS", "1000"))

    def overview(p, agents):
        go(d, "about:blank")
        go(d, f"http://127.0.0.1:{p}/")
        until(lambda: text(d, "#agents-active") == str(agents), 20, f"the overview of {agents} agents", 0.02)
        # The page notes when the overview first reached the screen (a frame after it was
        # drawn); the time counts from the navigation's start, module loading and the metrics
        # fetch included.
        return until(lambda: d.execute_script("return window.__overviewPainted"), 10, "the paint time")

    # The best load counts: a load on a shared machine is only ever slower than the page's own
    # cost, by however much CPU the others took meanwhile. The overview must be drawn within the
    # bound, or, when the machine is too loaded for any load of the page to make it (the small
    # cluster's loads miss it too), no later than 1.5 x the small cluster's best: the size of
    # the cluster must not delay it (it needs the metrics only; the state is read after it).
    # At least three pairs; more (up to ten, or 90 s) while that does not hold, so that a
    # loaded machine gets more chances at a quiet moment.
    tries, small_tries = [], []
    deadline = time.time() + 90

    def met():
        return min(tries) <= max(bound, 1.5 * min(small_tries))
    while len(tries) < 3 or (not met() and len(tries) < 10 and time.time() < deadline):
        small_tries.append(overview(small.server_address[1], 10))
        tries.append(overview(port, n_agents))
    overview_ms = min(tries)
    shot(d, "scale-overview")
    state_ms = until(lambda: d.execute_script("return window.__stateReady"), 60, "the state to load")
    d.execute_script("window.__t0 = performance.now(); location.hash = '#/tasks'")
    until(lambda: "100,000 rows" in text(d, "[data-table=tasks] .vt-foot"), 60, "the 100,000-task list", 0.05)
    tasks_ms = d.execute_script("return performance.now() - window.__t0")
    rows = len(d.find_elements(By.CSS_SELECTOR, "[data-table=tasks] .vt-row"))
    shot(d, "scale-tasks")
    d.execute_script("window.__t0 = performance.now(); location.hash = '#/agents'")
    until(lambda: "10,000 rows" in text(d, "[data-table=agents] .vt-foot"), 30, "the 10,000-agent list", 0.05)
    agents_ms = d.execute_script("return performance.now() - window.__t0")
    load = open("/proc/loadavg").read().split()[:3]
    log(f"scale: /master/state {size / 1e6:.1f} MB, read and indexed {state_ms:.0f} ms after navigation; "
        f"overview rendered {overview_ms:.0f} ms after "
        f"navigation; task list (100,000) {tasks_ms:.0f} ms with {rows} rows in the DOM; agent list "
        f"(10,000) {agents_ms:.0f} ms; overview loads {', '.join(f'{t:.0f}' for t in tries)} ms; "
        f"of 10 agents {', '.join(f'{t:.0f}' for t in small_tries)} ms; load average {' '.join(load)}")
    srv.shutdown()
    small.shutdown()
    assert rows < 200, f"{rows} task rows in the DOM: the list is not virtualized"
    assert met(), (f"the overview took {overview_ms:.0f} ms (bound {bound:.0f} ms, or 1.5 x the "
                   f"{min(small_tries):.0f} ms of a 10-agent cluster on this loaded machine)")


def main():
    tmp = tempfile.mkdtemp(prefix="cmesos-webui-")
    d = None
    try:
        port = start_cluster(tmp)
        d = browser()
        case_overview(d, port)
        case_task(d, port, tmp)
        case_pages(d, port)
        case_standby(d, tmp)
        collect_console(d)

        @case("console")
        def case_console():
            assert not console_errors, "console errors: " + " | ".join(console_errors[:5])
        case_console()
        case_unreachable(d, port)  # after the console check: the failed reads are logged there
        case_secure(tmp)
        d.quit()
        d = browser()  # a fresh browser: the scale case measures a cold load
        case_scale(d)
    except Exception as e:
        results.append(("setup", "FAIL", str(e)))
        log(f"FAIL setup: {e}")
    finally:
        if d:
            try:
                d.quit()
            except Exception:
                pass
        stop_all()
    # Under the ASan/UBSan build a daemon's report lands in its log (at exit for leaks).
    for name, p, path in procs:
        report = tail(path, 200000)
        if "Sanitizer" in report or "runtime error:" in report:
            results.append((f"sanitizer ({name})", "FAIL", path))
            log(f"FAIL sanitizer: {name}'s log has a sanitizer report ({path})")
    failed = [r for r in results if r[1] == "FAIL"]
    if failed:
        for name, p, path in procs:
            log(f"---- {name} log ({path}) ----\n{tail(path)}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"screenshots: {SHOTS}")
    log(f"{len(results) - len(failed)} passed or skipped, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
