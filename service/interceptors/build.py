"""The chain in its one order, and the RPCs of the contract bound to the core through it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from google.protobuf.message import Message
from showrunner.v1.show_service_seam import Rpc, ShowService, show_service_rpcs

from service.core.auth import Authenticator
from service.core.caller import Caller
from service.core.clock import Clock
from service.core.limits import Limiter, RatePolicy
from service.core.ports import ShowObserver
from service.core.record import ShowRecords
from service.interceptors.authentication import Authentication
from service.interceptors.chain import Call, Chain
from service.interceptors.error_mapping import ErrorMapping
from service.interceptors.logs import Logs
from service.interceptors.metrics import Metrics
from service.interceptors.policy import Policy
from service.interceptors.rate_limit import RateLimit
from service.interceptors.request_id import RequestId
from service.observability.metrics import Metrics as Registry
from service.policy import Rule, rule_for

Req = TypeVar("Req", bound=Message)
Res = TypeVar("Res", bound=Message)


def chain(
    auth: Authenticator,
    records: ShowRecords,
    limiter: Limiter,
    rates: RatePolicy,
    clock: Clock,
    metrics: Registry,
    observer: ShowObserver,
) -> Chain:
    return Chain(
        [
            RequestId(),
            Authentication(auth),
            # Before the policy: a call it refuses (which it may read the record to decide) is an
            # attempt all the same, and counts against the caller's allowance.
            RateLimit(limiter, rates, clock, observer),
            Policy(records, clock),
            Metrics(metrics),
            Logs(),
            ErrorMapping(),
        ]
    )


@dataclass(frozen=True)
class Endpoint(Generic[Req, Res]):
    """One RPC, ready for any door: its contract, its policy, and the chain in front of the core."""

    rpc: Rpc[Req, Res, Caller]
    rule: Rule
    chain: Chain

    @property
    def name(self) -> str:
        return self.rpc.name

    async def serve(self, door: str, request: Req, headers: Mapping[str, str], address: str | None) -> Res:
        call = Call(door=door, rule=self.rule, request=request, headers=headers, address=address)

        async def answer(call: Call) -> Res:
            return await self.rpc.implementation(request, call.verified())

        return await self.chain.run(call, answer)


def endpoints(core: ShowService[Caller], through: Chain) -> tuple[Endpoint[Any, Any], ...]:
    """Every RPC of the contract, bound to the core behind the chain. The service refuses to
    start if an RPC declares no policy (service/policy.py)."""
    return tuple(Endpoint(rpc, rule_for(rpc.descriptor), through) for rpc in show_service_rpcs(core))
