"""Measures the web UI at one master URL in headless Chromium (see bench/webui_scale.sh):
python3 webui_scale.py URL AGENTS TASKS. Prints the overview's first paint (best of three cold
loads), the state's load, and the time to draw the task and agent lists, all in ms."""
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

url, agents, tasks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
opts = Options()
opts.binary_location = "/usr/bin/chromium"
for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
          "--window-size=1400,900"):
    opts.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)


def until(fn, secs):
    end = time.time() + secs
    while time.time() < end:
        try:
            v = fn()
            if v:
                return v
        except Exception:
            pass
        time.sleep(0.02)
    raise SystemExit(f"timed out after {secs} s")


try:
    paints = []
    for _ in range(3):
        d.get("about:blank")
        d.get(url)
        paints.append(until(lambda: d.execute_script("return window.__overviewPainted"), 30))
    state = until(lambda: d.execute_script("return window.__stateReady"), 120)
    d.execute_script("window.__t0 = performance.now(); location.hash = '#/tasks'")
    until(lambda: "rows" in d.find_element(By.CSS_SELECTOR, "[data-table=tasks] .vt-foot").text, 120)
    tasks_ms = d.execute_script("return performance.now() - window.__t0")
    d.execute_script("window.__t0 = performance.now(); location.hash = '#/agents'")
    until(lambda: "rows" in d.find_element(By.CSS_SELECTOR, "[data-table=agents] .vt-foot").text, 60)
    agents_ms = d.execute_script("return performance.now() - window.__t0")
    print(f"webui: agents={agents} tasks={tasks} overview_paint_ms={min(paints):.0f} "
          f"(loads {', '.join(f'{p:.0f}' for p in paints)}) state_ready_ms={state:.0f} "
          f"task_list_ms={tasks_ms:.0f} agent_list_ms={agents_ms:.0f}")
finally:
    d.quit()
