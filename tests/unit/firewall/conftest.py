import os

RECORDED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "recorded")


def recorded(name):
    with open(os.path.join(RECORDED, name), encoding="utf-8") as handle:
        return handle.read()
