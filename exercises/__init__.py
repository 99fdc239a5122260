"""The bundled exercise bank (package data, installed as `grader.bank`)."""
