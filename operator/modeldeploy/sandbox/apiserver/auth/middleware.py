"""The authentication and authorization filters, in front of every handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

from modeldeploy.sandbox.apiserver.auth.authn import Authenticator
from modeldeploy.sandbox.apiserver.auth.impersonation import GROUP_HEADER, impersonated
from modeldeploy.sandbox.apiserver.auth.rbac import Authorizer, forbidden
from modeldeploy.sandbox.apiserver.auth.requestinfo import request_attributes
from modeldeploy.sandbox.apiserver.auth.users import current_user

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def auth_filter(authenticator: Authenticator, authorizer: Authorizer) -> Middleware:
    @web.middleware
    async def authenticate_and_authorize(
        request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        user = authenticator.authenticate(request.headers.get("Authorization", ""), peer)
        groups = request.headers.getall(GROUP_HEADER, [])
        user = impersonated(authorizer, user, request.headers, groups)
        attributes = request_attributes(request.method, request.path, request.query)
        if not authorizer.authorize(user, attributes).allowed:
            raise forbidden(user, attributes)
        token = current_user.set(user)
        try:
            return await handler(request)
        finally:
            current_user.reset(token)

    return authenticate_and_authorize
