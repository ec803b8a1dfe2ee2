#!/usr/bin/env python3
"""Walks the Herald console's main road in headless Chromium (Selenium).

Starts its own `herald serve` on a fresh SQLite file, with a token made by
`herald token create` and a receiver on loopback, then: signs in, makes a
webhook (sees a validation error, fixes it), sends a test and sees the
delivery and its attempt, redelivers, disables and enables, makes a policy
and sees its key once, signs out and is refused. Screenshots of each page
go to --screenshots (a temporary folder unless given: CI leaves the tree
clean; `docs/console/` holds the ones committed).

Usage: tests/browser/console_walk.py [--herald target/debug/herald] [--screenshots DIR]
"""

import argparse
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

SECRET_KEY = "dGVzdCBrZXkgb2YgdGhpcnR5LXR3byBieXRlcyEhISE="
WAIT = 15


class Receiver(http.server.BaseHTTPRequestHandler):
    """Answers every message 200 with a small JSON body."""

    received = []

    def do_POST(self):
        length = int(self.headers.get("content-length", 0))
        Receiver.received.append(self.rfile.read(length))
        body = json.dumps({"received": True}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("x-receiver", "console-walk")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, check, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Walk:
    def __init__(self, base, shots):
        self.base = base
        self.shots = shots
        self.steps = 0
        options = webdriver.ChromeOptions()
        options.binary_location = "/usr/bin/chromium"
        self.profile = tempfile.mkdtemp(prefix="console-walk-chromium-")
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                     f"--user-data-dir={self.profile}", "--window-size=1280,900"):
            options.add_argument(flag)
        self.driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
        self.driver.set_page_load_timeout(WAIT)

    def close(self):
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    def step(self, name):
        self.steps += 1
        print(f"step {self.steps}: {name}", flush=True)

    def open(self, path):
        self.driver.get(self.base + path)

    def find(self, css):
        return WebDriverWait(self.driver, WAIT).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, css)))

    def text(self):
        """The page's text; empty while a new page is on its way."""
        try:
            return self.driver.find_element(By.TAG_NAME, "body").text
        except (NoSuchElementException, StaleElementReferenceException):
            return ""

    def see(self, words):
        wait_until(f"{words!r} on {self.driver.current_url}", lambda: words in self.text())

    def click(self, text):
        self.driver.find_element(By.XPATH, f"//button[normalize-space()='{text}'] | //a[normalize-space()='{text}']").click()

    def shot(self, name, width=1280):
        """The whole page at `width` CSS pixels (a phone's at 375)."""
        metrics = {"width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600}
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        height = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]["height"]
        metrics["height"] = min(max(int(height), 600), 4000)
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
        self.driver.save_screenshot(os.path.join(self.shots, f"{name}.png"))
        self.driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def walk(w, token, receiver_url):
    w.step("a page without a session goes to the sign-in page")
    w.open("/console/webhooks")
    w.find("#token")
    assert w.driver.current_url.endswith("/console/sign-in"), w.driver.current_url
    w.shot("sign-in")

    w.step("sign in with the administrator's token")
    w.find("#token").send_keys(token)
    w.click("Sign in")
    w.find("h1")
    w.see("Overview")
    w.see("Deliveries of the last 24 hours")

    w.step("the keyboard reaches the skip link first, with a visible focus")
    w.driver.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    focused = w.driver.switch_to.active_element
    assert focused.text == "Skip to content", focused.text
    outline = focused.value_of_css_property("outline-style")
    assert outline not in ("none", ""), outline

    w.step("a new webhook with a bad URI shows the API's message beside the field")
    w.open("/console/webhooks/new")
    w.find("#name").send_keys("Orders to the warehouse")
    Select(w.find("#event")).select_by_value("request.create")
    w.find("#uri").send_keys("not a uri")
    w.click("Create")
    error = w.find("#uri-error")
    assert "Uri" in error.text, error.text
    assert w.find("#uri").get_attribute("aria-invalid") == "true"
    assert w.find("#name").get_attribute("value") == "Orders to the warehouse"
    w.shot("webhook-form-error")

    w.step("fixing the URI makes the webhook")
    uri = w.find("#uri")
    uri.clear()
    uri.send_keys(receiver_url)
    w.click("Create")
    w.see("Created.")
    webhook_url = w.driver.current_url.split("?")[0]

    w.step("send a test and see its delivery succeed, with its attempt")
    w.click("Send test")
    w.see("Test message queued")

    def delivered():
        w.driver.get(webhook_url)
        return "succeeded" in w.find("#deliveries-section").text
    wait_until("the test delivery to succeed", delivered)
    w.shot("webhook")
    w.driver.find_element(By.CSS_SELECTOR, "#deliveries-section tbody a").click()
    w.see("Attempt 1")
    w.see("HTTP 200")
    for summary in w.driver.find_elements(By.CSS_SELECTOR, "details summary"):
        summary.click()
    w.see("x-receiver: console-walk")
    w.see('{"received": true}')
    w.shot("delivery")

    w.step("redeliver it: a new delivery, sent again")
    sent_before = len(Receiver.received)
    w.click("Redeliver")
    w.see("Redelivery queued")
    wait_until("the redelivery at the receiver", lambda: len(Receiver.received) > sent_before)

    def attempted():
        w.driver.refresh()
        return "Attempt 1" in w.text()
    wait_until("the redelivery's attempt", attempted)
    w.see("redelivery")

    w.step("disable and enable the webhook")
    w.driver.get(webhook_url)
    w.click("Disable")
    w.see("Disabled.")
    assert w.find(".state.off").text == "Disabled"
    w.click("Enable")
    w.see("Enabled.")

    w.step("the webhooks list, on a desktop and at 375 px")
    w.open("/console/webhooks")
    w.see("Orders to the warehouse")
    w.shot("webhooks")
    w.shot("webhooks-375px", width=375)
    w.open("/console")
    w.see("Overview")
    w.shot("overview")

    w.step("make a policy: its key is shown once, with a warning")
    w.open("/console/policies")
    Select(w.find("#jwt_alg")).select_by_value("es256")
    w.click("Create policy")
    w.see("Copy the public key (PEM) now.")
    key = w.find("#made-key").get_attribute("value")
    assert "BEGIN PUBLIC KEY" in key, key
    assert w.find("button.copy").is_displayed()
    w.shot("policy-created")
    w.open("/console/policies")
    assert "BEGIN PUBLIC KEY" not in w.driver.page_source
    w.open("/console/events")
    w.see("request.create")
    w.shot("events")

    w.step("sign out, and the console is refused")
    w.click("Sign out")
    w.see("You are signed out.")
    w.open("/console/webhooks")
    w.find("#token")
    assert w.driver.current_url.endswith("/console/sign-in"), w.driver.current_url


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--herald", default="target/debug/herald")
    parser.add_argument("--screenshots", default=None)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="console-walk-")
    shots = args.screenshots or os.path.join(work, "screenshots")
    os.makedirs(shots, exist_ok=True)
    database = f"sqlite://{work}/herald.db"
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    receiver_url = f"http://127.0.0.1:{receiver.server_address[1]}/hooks/orders"
    env = dict(os.environ, HERALD_SECRET_KEY=SECRET_KEY, HERALD_DATA_DIR=work)
    token = subprocess.run(
        [args.herald, "token", "create", "--account", "acme", "--role", "administrator",
         "--name", "Ada Admin", "--database", database],
        check=True, capture_output=True, text=True, env=env, timeout=60).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [args.herald, "serve", "--database", database, "--listen", f"127.0.0.1:{port}",
         "--allow-private-targets", "--require-verification", "false",
         "--retry-schedule", "1s"],
        env=env, stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "herald.log"), "w"))
    w = None
    try:
        wait_until("herald to answer", lambda: healthy(base), timeout=30)
        w = Walk(base, shots)
        walk(w, token, receiver_url)
        print(f"console walk: {w.steps} steps passed; screenshots in {shots}")
    except Exception:
        print(open(os.path.join(work, "herald.log")).read()[-4000:], file=sys.stderr)
        raise
    finally:
        if w is not None:
            w.close()
        server.terminate()
        server.wait(timeout=20)
        receiver.shutdown()
        if args.screenshots is not None:
            shutil.rmtree(work, ignore_errors=True)


def healthy(base):
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


if __name__ == "__main__":
    main()
