"""nhicard: the Taiwan NHI card (健保卡) from a terminal.

Where things live (one owner per concept):

- Site profile (sites, mail, SAM, agent origin): ``web/profile.py`` ``resolve_profile`` — the
  one loader (``extends`` resolved once) used by the flows, ``agent serve`` and ``env check``;
  the data in ``profiles/real.toml`` (the real SAM's address and key too) and ``sandbox.toml``.
- Running sandbox's endpoints and SAM wrap key: ``sandbox_endpoints.py`` (written by the
  sandbox server, read by everyone else).
- Where a SAM listens (a profile's ``[sam]``, what the SAM client connects to):
  ``sam_endpoint.py``; the client ``agent/sam.py``; the component's address ``agent.DEFAULT_AGENT_URL``; ``SIGNATURE_LENGTH`` in ``agent/base.py``.
- The card's 57-byte profile, both ways: ``card/profile.py`` (``from_bytes`` / ``to_bytes``;
  the virtual card uses ``to_bytes``).
- The official component's host, ports and URL: ``agent/__init__.py``.
- State directories: ``paths.py``; certificates (CA, server leaf, PEM files): ``certs.py``;
  TLS contexts (verifying clients, local servers): ``tlsclient.py``; what a failed connection
  was (DNS, refused, timeout, certificate…): ``netclass.py``; error classes and their
  categories: ``errors.py`` (the one category → exit-code table: ``cli/main.py``); bilingual
  text: ``i18n.py``.
- The card: the interface ``connection.py`` (``Connection``: send an APDU, get data and status
  word); ``apdu.py`` (``StatusWord``, GET RESPONSE, Le retry); the pyscard adapter ``pcsc/``
  (``connection.py``, reader names ``names.py``, ``readers.py``, ``monitor.py``); the NHI
  commands ``card/session.py``. APDU tracing: ``traffic.py`` (``logging`` at ``TRAFFIC``, the
  masking filter); ``-vv`` prints it (``cli/trace.py``).
- What commands print (language, masking for display): ``cli/records.py`` and the commands.
- What differs per OS (hosts file, trust stores, login service, PC/SC service, how a server
  claims its port): ``platform/`` (one module per OS behind one interface, ``platform.get``);
  the hosts file, byte for byte: ``platform/hosts.py``.

Layers (imports go down only; ``tests/test_architecture.py`` enforces it)::

    cli  →  flows | envcheck | sandbox  →  web | agent | mail  →  card  →  pcsc | apdu  →  platform

Names separated by ``|`` sit beside each other and do not import one another. Every layer may
import the shared modules (``connection``, ``traffic``, ``errors``, ``i18n``, ``masking``,
``paths``, ``atomicfile``, ``closing``, ``certs``, ``tlsclient``, ``netclass``, ``urlcheck``,
``sam_endpoint``, ``sandbox_endpoints``), which import only each
other. No import cycles; ``click`` only in ``cli/``, pyscard only in ``pcsc/``; exit codes
only in ``cli/``.
"""

__version__ = "0.1.0"
