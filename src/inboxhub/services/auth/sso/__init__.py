"""Single sign-on per tenant: OpenID Connect and SAML 2.0, configured by the tenant's
admins; users unknown to the tenant are created on their first sign-in only when
their email's domain is one of the tenant's verified domains."""
