"""Classifiers: the interface, the ONNX model runtime and a fake for tests."""
