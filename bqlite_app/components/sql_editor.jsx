// The SQL editor: CodeMirror 6 (@uiw/react-codemirror) with @codemirror/lang-sql, wrapped for Reflex.
//
// The document is owned here, not by the Reflex state: keystrokes never wait for a server round trip, and a late
// state echo can never overwrite newer typing. The state learns the text through a debounced `onChange(doc,
// selection)` (flushed on blur, so a click on Run sees the latest text) and changes the text only through
// `command` = {seq, op, text, pos}: a command is applied once, when its `seq` changes.
//   op "set"    replace the document (tab switch, sample query), kept out of the undo history
//   op "insert" insert text at the cursor (a click in the explorer)
//   op "format" pretty-print the document with sql-formatter, in the engine's dialect
//   op "goto"   put the cursor at a 1-based character position (an error position) and scroll to it
// Keys (Mod is Ctrl, or Cmd on a Mac), in the editor and, while the editor is on the page, anywhere else on it:
//   Mod+Enter        `onRun(doc, selection)`
//   Mod+Shift+Enter  `onDryRun(doc, selection)`
//   Mod+S            `onSave(doc, selection)`; the browser's "save page" never opens
//   Esc              `onCancel()`, unless a dialog or the completion popup takes it
//   ?                `onShortcuts()`, outside text fields (in them it is a character)
// Each flushes the pending `onChange` first, so the state has the text the key acted on.
import React, { useCallback, useEffect, useMemo, useRef } from "react";
import CodeMirror, { EditorView, keymap, Prec, Transaction } from "@uiw/react-codemirror";
import { closeCompletion } from "@codemirror/autocomplete";
import { sql, PostgreSQL, MySQL, StandardSQL } from "@codemirror/lang-sql";
import { format as formatSql } from "sql-formatter";

const DIALECTS = { duckdb: PostgreSQL, clickhouse: MySQL };
const FORMATTER_LANGUAGES = { duckdb: "duckdb", clickhouse: "clickhouse" };
const CHANGE_DEBOUNCE_MS = 300;

function selectedText(state) {
  const range = state.selection.main;
  return range.empty ? "" : state.sliceDoc(range.from, range.to);
}

function isTextField(target) {
  if (!target || !target.closest) return false;
  return Boolean(target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]'));
}

function buildSchema(catalog) {
  // catalog: {database: {table: [[column, type], ...]}} -> lang-sql's nested schema with typed column completions.
  const schema = {};
  for (const [database, tables] of Object.entries(catalog || {})) {
    schema[database] = {};
    for (const [table, columns] of Object.entries(tables)) {
      schema[database][table] = columns.map(([name, type]) => ({ label: name, type: "property", detail: type }));
    }
  }
  return schema;
}

export function SqlEditor({
  value = "",
  command,
  catalog,
  defaultSchema,
  engine = "duckdb",
  colorMode = "light",
  placeholder,
  ariaLabel = "SQL editor",
  onChange,
  onRun,
  onDryRun,
  onSave,
  onCancel,
  onShortcuts,
}) {
  const viewRef = useRef(null);
  const timerRef = useRef(null);
  // Event handlers change identity on every render; the editor's extensions read them through a ref.
  const handlers = useRef({});
  handlers.current = { onChange, onRun, onDryRun, onSave, onCancel, onShortcuts };
  const initialDoc = useRef(value);
  const appliedSeq = useRef(command ? command.seq : 0);

  const emitChange = useCallback((state) => {
    clearTimeout(timerRef.current);
    timerRef.current = null;
    handlers.current.onChange?.(state.doc.toString(), selectedText(state));
  }, []);

  const applyCommand = useCallback((view, cmd) => {
    if (!view || !cmd || cmd.seq === appliedSeq.current) return;
    appliedSeq.current = cmd.seq;
    const state = view.state;
    switch (cmd.op) {
      case "set":
        view.dispatch({
          changes: { from: 0, to: state.doc.length, insert: cmd.text || "" },
          selection: { anchor: 0 },
          annotations: Transaction.addToHistory.of(false),
        });
        return;
      case "insert":
        view.dispatch(state.replaceSelection(cmd.text || ""));
        view.focus();
        emitChange(view.state);
        return;
      case "format": {
        let formatted;
        try {
          formatted = formatSql(state.doc.toString(), {
            language: FORMATTER_LANGUAGES[engine] || "sql",
            keywordCase: "upper",
            tabWidth: 2,
          });
        } catch (error) {
          console.warn("The SQL could not be formatted:", error.message);
          return;
        }
        view.dispatch({ changes: { from: 0, to: state.doc.length, insert: formatted } });
        emitChange(view.state);
        return;
      }
      case "goto": {
        const pos = Math.min(Math.max((cmd.pos || 1) - 1, 0), state.doc.length);
        view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
        view.focus();
        return;
      }
      default:
        return;
    }
  }, [emitChange, engine]);

  useEffect(() => applyCommand(viewRef.current, command), [command, applyCommand]);
  useEffect(() => () => clearTimeout(timerRef.current), []);

  // The text-handing keys: flush the pending change, then call the handler with the document and the selection.
  const withText = useCallback((name) => {
    const view = viewRef.current;
    if (!view) return;
    if (timerRef.current) emitChange(view.state);
    closeCompletion(view);
    handlers.current[name]?.(view.state.doc.toString(), selectedText(view.state));
  }, [emitChange]);

  // The same keys anywhere on the page (the editor's own keymap handles them first, and marks them handled).
  useEffect(() => {
    const onKey = (event) => {
      if (event.defaultPrevented || event.isComposing) return;
      const mod = event.ctrlKey || event.metaKey;
      // A dialog (the shortcuts, saving a query) has the keyboard: its own Enter and Esc.
      const inDialog = Boolean(document.querySelector('[role="dialog"], [role="alertdialog"]'));
      if (mod && !event.altKey && (event.key === "s" || event.key === "S")) {
        event.preventDefault();
        if (!inDialog) withText("onSave");
      } else if (mod && event.key === "Enter" && !inDialog) {
        event.preventDefault();
        withText(event.shiftKey ? "onDryRun" : "onRun");
      } else if (event.key === "Escape" && !mod && !inDialog) {
        handlers.current.onCancel?.();
      } else if (event.key === "?" && !mod && !event.altKey && !isTextField(event.target)) {
        event.preventDefault();
        handlers.current.onShortcuts?.();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [withText]);

  const extensions = useMemo(() => [
    sql({
      dialect: DIALECTS[engine] || StandardSQL,
      schema: buildSchema(catalog),
      defaultSchema: defaultSchema || undefined,
      upperCaseKeywords: true,
    }),
    Prec.highest(keymap.of([{
      key: "Mod-Enter",
      preventDefault: true,
      run: (view) => {
        clearTimeout(timerRef.current);
        timerRef.current = null;
        closeCompletion(view);
        handlers.current.onRun?.(view.state.doc.toString(), selectedText(view.state));
        return true;
      },
    }, {
      key: "Shift-Mod-Enter",
      preventDefault: true,
      run: () => { withText("onDryRun"); return true; },
    }, {
      key: "Mod-s",
      preventDefault: true,
      run: () => { withText("onSave"); return true; },
    }])),
    EditorView.updateListener.of((update) => {
      if (update.docChanged || update.selectionSet) {
        const changedByUser = update.transactions.some((tr) => tr.isUserEvent("input") || tr.isUserEvent("delete")
          || tr.isUserEvent("undo") || tr.isUserEvent("redo") || tr.isUserEvent("move") || tr.isUserEvent("select")
          || tr.isUserEvent("paste") || tr.isUserEvent("drop"));
        if (!changedByUser) return;
        clearTimeout(timerRef.current);
        timerRef.current = setTimeout(() => emitChange(update.view.state), CHANGE_DEBOUNCE_MS);
      }
    }),
    EditorView.domEventHandlers({
      blur: (_event, view) => {
        if (timerRef.current) emitChange(view.state);
      },
    }),
    EditorView.contentAttributes.of({ "aria-label": ariaLabel }),
    // The page's Radix colours, so the editor matches the light and the dark theme alike (highest precedence: it
    // overrides the background of the highlighting theme picked by `theme`).
    Prec.highest(EditorView.theme({
      "&": { height: "100%", fontSize: "13px", backgroundColor: "var(--color-panel-solid)", color: "var(--gray-12)" },
      ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace" },
      ".cm-gutters": { backgroundColor: "var(--gray-2)", color: "var(--gray-9)", borderRight: "1px solid var(--gray-a4)" },
      ".cm-activeLine": { backgroundColor: "var(--gray-a2)" },
      ".cm-activeLineGutter": { backgroundColor: "var(--gray-a3)" },
      "&.cm-focused": { outline: "none" },
    }, { dark: colorMode === "dark" })),
  ], [catalog, defaultSchema, engine, ariaLabel, emitChange, colorMode, withText]);

  const onCreateEditor = useCallback((view) => {
    viewRef.current = view;
    applyCommand(view, command);
  }, [applyCommand, command]);

  return (
    <CodeMirror
      value={initialDoc.current}
      height="100%"
      style={{ height: "100%" }}
      theme={colorMode === "dark" ? "dark" : "light"}
      placeholder={placeholder}
      extensions={extensions}
      onCreateEditor={onCreateEditor}
      basicSetup={{ foldGutter: false, highlightActiveLineGutter: true, searchKeymap: true }}
    />
  );
}
