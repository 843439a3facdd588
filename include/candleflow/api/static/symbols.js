// Candleflow chart page: the symbol box, a combobox over the instruments the warehouse has.
//
// Why not a <datalist>: a browser filters it by the box's text, so with a symbol in the box
// (always, once a chart is drawn) it offers that symbol alone, and it matches the option's
// value only. This list opens on focus with every instrument, narrows by symbol or
// description as the person types, and is driven by mouse or keyboard (arrows, Enter,
// Escape). Descriptions are set as text (textContent), never parsed as markup.
"use strict";

window.candleflowSymbolBox = function (input, list, onPick) {
  const MAX_SHOWN = 200;
  let items = [];
  let shown = [];
  let active = -1;

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  list.setAttribute("role", "listbox");
  list.hidden = true;

  function matches(text) {
    const needle = text.trim().toLowerCase();
    // The box holds a known symbol (the one drawn): offer everything, not just itself.
    if (!needle || items.some((item) => item.symbol.toLowerCase() === needle)) return items;
    return items.filter((item) => item.symbol.toLowerCase().includes(needle)
      || (item.description || "").toLowerCase().includes(needle));
  }

  function highlight(index) {
    active = index;
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === index)));
    const current = list.children[index];
    if (current) {
      input.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function open() {
    shown = matches(input.value).slice(0, MAX_SHOWN);
    list.replaceChildren(...shown.map((item, i) => {
      const li = document.createElement("li");
      li.id = "symbol-option-" + i;
      li.setAttribute("role", "option");
      const symbol = document.createElement("span");
      symbol.className = "symbol";
      symbol.textContent = item.symbol;
      const description = document.createElement("span");
      description.className = "description";
      description.textContent = item.description || "";
      li.append(symbol, description);
      // mousedown, not click: it comes before the box's blur closes the list
      li.addEventListener("mousedown", (event) => { event.preventDefault(); pick(i); });
      return li;
    }));
    list.hidden = shown.length === 0;
    input.setAttribute("aria-expanded", String(!list.hidden));
    highlight(-1);
  }

  function close() {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    highlight(-1);
  }

  function pick(index) {
    const item = shown[index];
    if (!item) return;
    input.value = item.symbol;
    close();
    onPick(item.symbol);
  }

  input.addEventListener("focus", open);
  input.addEventListener("click", () => { if (list.hidden) open(); });
  input.addEventListener("input", open);
  input.addEventListener("blur", close);
  input.addEventListener("keydown", (event) => {
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      if (list.hidden) open();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight(Math.max(0, Math.min(shown.length - 1, active + step)));
    } else if (event.key === "Enter" && !list.hidden && active >= 0) {
      event.preventDefault(); // the highlighted instrument, not the form's submit
      pick(active);
    } else if (event.key === "Escape") {
      close();
    } else if (event.key === "Enter") {
      close(); // the form submits what was typed
    }
  });

  return {
    setItems(list_) { items = list_.slice(); },
    close,
  };
};
