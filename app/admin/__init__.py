"""The back office at /admin: SQLAdmin, in the service's own process, on its own services.

Modules: `site` (mounting, home and sign-in pages), `auth` (sign-in on the service's
sessions), `guard` (security headers, cross-site refusal), `notices` (what a change
says on the next page), `forms`, `views` (what the screens share), `csv_pages` (a
screen's CSV export and import), `bulk` (actions on the rows ticked), and one module
per screen: `users`, `items`, `sessions`, `audit`.
"""

from app.admin.site import mount_back_office

__all__ = ["mount_back_office"]
