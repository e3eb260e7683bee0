// The back office's own requests (deleting a row) carry the sign-in's CSRF token.
$.ajaxSetup({ headers: { "X-CSRF-Token": $('meta[name="csrf-token"]').attr("content") } });
