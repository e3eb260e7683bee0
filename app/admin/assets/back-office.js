// The back office's own requests (deleting a row) carry the sign-in's CSRF token.
$.ajaxSetup({ headers: { "X-CSRF-Token": $('meta[name="csrf-token"]').attr("content") } });

// The labels of the rows ticked on a list.
function chosenLabels() {
  return $(".select-box:checked").map((_, box) => box.dataset.label).get();
}

// A delete names what goes: the row of the button pressed, else the rows ticked.
// (SQLAdmin's own text names a row by its id; this handler runs after it.)
$(document).on("shown.bs.modal", "#modal-delete", function (event) {
  const { one, many, label } = this.dataset;
  const trigger = event.relatedTarget;
  const named = trigger?.dataset.label ?? label;
  const labels = named === undefined ? chosenLabels() : [named];
  const button = $("#modal-delete-button");
  if (!trigger) button.attr("data-url", $("#action-delete").data("url")); // "Delete selected"
  button.prop("disabled", labels.length === 0);
  const rows = labels.length === 1 ? `${one} "${labels[0]}"` : `${labels.length} ${many}`;
  const text = labels.length === 0 ? `No ${many} ticked.` : `Delete ${rows}? This cannot be undone.`;
  $("#modal-delete-text").text(text);
});

// A list action's question counts the rows ticked: "Revoke this session?", "Revoke
// these 3 sessions?" (its message has a {} for them).
$(document).on("show.bs.modal", ".action-confirmation", function () {
  const { message, one, many } = this.dataset;
  const count = $(".select-box:checked").length;
  const rows = count === 1 ? `this ${one}` : `these ${count} ${many}`;
  $(this).find(".action-confirmation-text").text(count === 0 ? `No ${many} ticked.` : message.replace("{}", rows));
  $(this).find("[id^='action-custom-modal-']").toggleClass("disabled", count === 0);
});

// On a phone the filters start folded, unless one is in use: the list comes first.
if (window.matchMedia("(max-width: 767.98px)").matches) {
  $("details.list-filters:not(.in-use)").removeAttr("open");
}
