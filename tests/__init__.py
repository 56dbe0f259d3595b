"""make test: unit/ (no server), live/ (a real Triton, or the object store, on free loopback ports) and
deployment/ (images, compose, Kubernetes, the image's entry); support.py holds what they share and
conftest.py the fixtures, served through the launcher's own pytest plugin."""
