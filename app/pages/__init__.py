"""The pages that mailed links open when no frontend of yours does (FRONTEND_URL unset):
choose a new password, confirm an email address. Static HTML and one script, served by
the service itself under `/account`, that post the link's token to the API."""
