"""A tiny job worker that is not Node: it reads jobs (JSON lines) from a spool folder and logs
plain text lines. Latent bug: a job whose items list is empty divides by zero."""
import json
import os
import sys
import time

SPOOL = os.environ.get("SPOOL_DIR", "spool")


def average_price(job):
    items = job["items"]
    return sum(item["price"] for item in items) / len(items)


def process(path):
    with open(path, encoding="utf-8") as handle:
        job = json.load(handle)
    avg = average_price(job)
    print(f"INFO job {job['id']} done: {len(job['items'])} items, average price {avg:.2f}", flush=True)


def main():
    os.makedirs(SPOOL, exist_ok=True)
    print("INFO worker ready", flush=True)
    while True:
        for name in sorted(os.listdir(SPOOL)):
            if not name.endswith(".json"):
                continue
            path = os.path.join(SPOOL, name)
            try:
                process(path)
            except Exception:  # noqa: BLE001 - log and keep the worker alive
                import traceback

                print(f"ERROR job file {name} failed", file=sys.stderr, flush=True)
                traceback.print_exc()
            finally:
                os.remove(path)
        time.sleep(0.2)


if __name__ == "__main__":
    main()
