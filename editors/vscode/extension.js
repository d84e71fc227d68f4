// Starts `archdsl lsp` (stdio) for .arch files. The command is the setting
// `archdsl.server.command` (default: ["archdsl", "lsp"]).
"use strict";
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const [command, ...args] = vscode.workspace.getConfiguration("archdsl").get("server.command", ["archdsl", "lsp"]);
  const serverOptions = { command, args };
  const clientOptions = { documentSelector: [{ scheme: "file", language: "arch" }, { scheme: "untitled", language: "arch" }] };
  client = new LanguageClient("archdsl", "archdsl", serverOptions, clientOptions);
  client.start();
  context.subscriptions.push({ dispose: () => client && client.stop() });
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
