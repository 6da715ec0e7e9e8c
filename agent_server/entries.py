"""Named entries of the document (MCP servers, registries): where each comes from, its ETag, how
it reads in each expose mode.

ETags are remembered by name with the stamp of the stored config they were made from (the config
itself where it has no stamp: agent_server.stored_servers): an unchanged entry keeps its stamp
between versions, so after a write only the changed entry is hashed again.
"""

from __future__ import annotations

from typing import Any, Literal

from agent_server.preconditions import ETagSigner
from agent_server.secrets import SecretCipher, map_server_secrets, view_fn
from agent_server.stored_servers import config_stamp, same_stamp
from sdk.models import ExposeMode

Source = Literal["user", "managed"]
CACHE_LIMIT = 100_000


class EntryCatalog:
    """What every collection of named, secret-holding entries shares.

    `kind` is part of each ETag, with the name: otherwise writing a guess under one's own name
    would tell, by comparing ETags, whether another entry's secret equals the guess.
    """

    kind = "entry"

    def __init__(
        self, signer: ETagSigner, cipher: SecretCipher, managed: dict[str, dict[str, Any]]
    ) -> None:
        self.signer = signer
        self.cipher = cipher
        self.managed = managed
        self._etags: dict[str, tuple[object, str]] = {}  # name -> (config_stamp, ETag)

    def etag(self, name: str, config: dict[str, Any], written: bool = False) -> str:
        """The keyed hash of the kind, the name and the plaintext config.

        Only a `written` entry's plaintexts are remembered by the cipher (its next write or
        read will want them); otherwise the ETag is what is kept of them (agent_server.secrets).
        """
        stamp = config_stamp(config)
        cached = self._etags.get(name)
        if cached is not None and same_stamp(cached[0], stamp):
            return cached[1]
        plaintext = self.view(config, "plaintext") if written else self._plaintext(config)
        etag = self.signer.etag({self.kind: name, "config": plaintext})
        if len(self._etags) >= CACHE_LIMIT:
            self._etags.clear()
        self._etags[name] = (stamp, etag)
        return etag

    def _plaintext(self, config: dict[str, Any]) -> dict[str, Any]:
        return map_server_secrets(
            config, lambda _loc, token: self.cipher.decrypt(token, remember=False)
        )

    def forget(self, name: str) -> None:
        """Drop what is remembered of an entry that was deleted."""
        self._etags.pop(name, None)

    def view(self, config: dict[str, Any], mode: ExposeMode) -> dict[str, Any]:
        return map_server_secrets(config, view_fn(mode, self.cipher))


def string_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None
