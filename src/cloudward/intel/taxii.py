"""Pulling STIX indicators from a TAXII 2.1 collection (`GET <api-root>/collections/<id>/objects/`),
following the `more`/`next` pagination of the envelope. Standard library HTTP only.

Configuration:

    [[intel.taxii]]
    url = "https://ti.example.org/api1/"       # the API root
    collection = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    name = "partner-ti"                         # feed name in alerts (default taxii:<collection>)
    username = "cloudward"                      # HTTP basic auth, password from the environment ...
    password_env = "TAXII_PASSWORD"
    token_env = "TAXII_TOKEN"                   # ... or a bearer token from the environment
    added_after = "2026-01-01T00:00:00Z"        # only objects added since
"""

from __future__ import annotations

import base64
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import orjson

from cloudward.intel.feeds import FeedError, FeedSpec

MEDIA_TYPE = "application/taxii+json;version=2.1"
MAX_PAGES = 10_000


class TaxiiClient:
    def __init__(self, api_root: str, *, username: str = "", password: str = "", token: str = "",
                 timeout: float = 30.0) -> None:
        self.api_root = api_root if api_root.endswith("/") else api_root + "/"
        self.timeout = timeout
        self.headers = {"Accept": MEDIA_TYPE, "User-Agent": "cloudward-taxii/1"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        elif username:
            creds = base64.b64encode(f"{username}:{password}".encode()).decode()
            self.headers["Authorization"] = f"Basic {creds}"

    def get(self, url: str, params: dict[str, str] | None = None) -> Any:
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        request = urllib.request.Request(url, headers=self.headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return orjson.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise FeedError(f"TAXII {url}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise FeedError(f"TAXII {url}: {getattr(exc, 'reason', exc)}") from None
        except orjson.JSONDecodeError as exc:
            raise FeedError(f"TAXII {url}: response is not JSON: {exc}") from None

    def collections(self) -> list[dict[str, Any]]:
        doc = self.get(self.api_root + "collections/")
        return [c for c in (doc.get("collections") or []) if isinstance(c, dict)] if isinstance(doc, dict) else []

    def objects(self, collection: str, *, added_after: str = "", limit: int = 1000,
                types: str = "indicator") -> list[dict[str, Any]]:
        url = f"{self.api_root}collections/{urllib.parse.quote(collection, safe='')}/objects/"
        params = {"limit": str(limit)}
        if types:
            params["match[type]"] = types
        if added_after:
            params["added_after"] = added_after
        out: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            doc = self.get(url, params)
            if not isinstance(doc, dict):
                raise FeedError(f"TAXII {url}: envelope is not an object")
            out.extend(o for o in doc.get("objects") or [] if isinstance(o, dict))
            nxt = doc.get("next")
            if not doc.get("more") or not nxt:
                break
            params = {k: v for k, v in params.items() if k != "added_after"}
            params["next"] = str(nxt)
        return out


def pull(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Objects of the collection an `[[intel.taxii]]` table names."""
    url = str(config.get("url", ""))
    collection = str(config.get("collection", ""))
    if not url or not collection:
        raise FeedError("[[intel.taxii]] needs url (the API root) and collection")
    client = TaxiiClient(url, username=str(config.get("username", "")),
                         password=os.environ.get(str(config.get("password_env", "")), "") if config.get("password_env")
                         else "",
                         token=os.environ.get(str(config.get("token_env", "")), "") if config.get("token_env") else "",
                         timeout=float(config.get("timeout", 30)))
    return client.objects(collection, added_after=str(config.get("added_after", "")))


def pull_spec(spec: FeedSpec) -> list[dict[str, Any]]:
    """`taxii+https://host/api1/collections/<id>/` with options user, password_env, token_env, added_after."""
    url = spec.path[len("taxii+"):].rstrip("/")
    root, sep, collection = url.rpartition("/collections/")
    if not sep or not collection:
        raise FeedError(f"TAXII feed {spec.path}: expected taxii+<api root>/collections/<id>/")
    opts = dict(spec.options)
    return pull({"url": root + "/", "collection": collection, "username": opts.get("user", ""),
                 "password_env": opts.get("password_env", ""), "token_env": opts.get("token_env", ""),
                 "added_after": opts.get("added_after", "")})
