"""The tests' shared scaffolding: this folder is on the import path (pytest's prepend mode puts a conftest's folder
there), so that every test folder imports the factories of tests/factories.py."""
