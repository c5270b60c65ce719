"""What authorization costs the sandbox API server, as ratios.

RBAC is evaluated from the stored objects on every request (no cache to go stale), so its cost
grows with the number of bindings. Measured on one server, median of --runs GETs of one ConfigMap
list over a kept-alive HTTPS connection:

- tenant (RoleBinding → aggregated ``edit``) vs administrator (``system:masters``, first binding);
- the same tenant with --bindings extra RoleBindings in its namespace and as many ClusterRoles and
  ClusterRoleBindings, vs with none;
- a new TLS connection per request vs a kept-alive one (what a client without pooling pays).

    python bench/sandbox_auth.py [--runs 300] [--bindings 500]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import time

import aiohttp

from kuberun_sandbox.apiserver import ApiServer

G = "rbac.authorization.k8s.io"


async def _median(server: ApiServer, token: str, runs: int, fresh: bool = False) -> float:
    ctx = ssl.create_default_context(cadata=server.auth.ca_pem)
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{server.url}/api/v1/namespaces/team-a/configmaps"
    times: list[float] = []
    async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(ssl=ctx)) as kept:
        for _ in range(runs):
            start = time.perf_counter()
            if fresh:
                async with aiohttp.ClientSession(headers=headers, connector=aiohttp.TCPConnector(ssl=ctx, force_close=True)) as s, \
                        s.get(url) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()
            else:
                async with kept.get(url) as resp:
                    assert resp.status == 200, await resp.text()
                    await resp.read()
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def _binding(name: str, namespace: str | None, user: str, role: str) -> dict:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"metadata": meta, "roleRef": {"apiGroup": G, "kind": "ClusterRole", "name": role},
            "subjects": [{"apiGroup": G, "kind": "User", "name": user}]}


async def main(runs: int, bindings: int) -> None:
    server = ApiServer()
    await server.start()
    try:
        admin = server.auth.mint("admin", ("system:masters",))
        tenant = server.auth.mint("alice")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {admin}"},
                                         connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cadata=server.auth.ca_pem))) as s:
            async def post(path: str, body: dict) -> None:
                async with s.post(server.url + path, json=body) as resp:
                    assert resp.status == 201, await resp.text()

            await post("/api/v1/namespaces", {"metadata": {"name": "team-a"}})
            await post(f"/apis/{G}/v1/namespaces/team-a/rolebindings", _binding("alice", "team-a", "alice", "edit"))
            base = {"admin": await _median(server, admin, runs), "tenant": await _median(server, tenant, runs)}
            for i in range(bindings):
                await post(f"/apis/{G}/v1/namespaces/team-a/rolebindings", _binding(f"other-{i}", "team-a", f"u{i}", "view"))
                await post(f"/apis/{G}/v1/clusterroles", {"metadata": {"name": f"role-{i}"}, "rules": [
                    {"apiGroups": ["x.dev"], "resources": ["things"], "verbs": ["get"]}]})
                await post(f"/apis/{G}/v1/clusterrolebindings", _binding(f"crb-{i}", None, f"u{i}", f"role-{i}"))
        crowded = await _median(server, tenant, runs)
        fresh = await _median(server, tenant, max(20, runs // 10), fresh=True)
    finally:
        await server.stop()
    print(f"tenant / administrator latency:                      {base['tenant'] / base['admin']:.2f}")
    print(f"tenant with {bindings} extra bindings+roles / with none: {crowded / base['tenant']:.2f}")
    print(f"new TLS connection / kept-alive connection:           {fresh / crowded:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--bindings", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(main(max(10, min(args.runs, 5000)), max(0, min(args.bindings, 5000))))
