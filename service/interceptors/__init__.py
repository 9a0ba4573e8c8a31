"""The interceptor chain every call goes through, on every door and for LiveKit's webhooks.

A call enters the pieces in order (request id, authentication, policy, rate limit, metrics, logs,
error mapping), each of which may refuse it; then the core answers. On the way out, every piece
sees the outcome in the reverse order, whether the call was answered or refused and by whom: error
mapping first turns an unexpected failure into INTERNAL, then logs and metrics record the outcome.
This is the model of Twirp's ChainHooks (every hook sees every error), with each piece small and
tested on its own (tests/test_interceptors.py).
"""
