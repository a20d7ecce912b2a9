"""The web jobs of the manual as flows: ``register`` (steps 1–4), ``verify_email`` (5–6) and
``ecpa`` (7). Shared pieces: :mod:`nhicard.flows.base` (the flow environment) and
:mod:`nhicard.flows.journal` (resumable run journals). Import the submodules directly.
"""
