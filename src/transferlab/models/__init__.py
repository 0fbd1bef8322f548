"""Classifiers built on backbones."""
