// A thin client: start `charter lsp` for .charter files; the server does the rest
// (diagnostics, hover, completion, navigation, rename, code actions, semantic tokens).

import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
} from "vscode-languageclient/node";

let client: LanguageClient | undefined;

function serverOptions(): ServerOptions {
  const config = vscode.workspace.getConfiguration("charter");
  const command = config.get<string>("server.path") || "charter";
  const extraEnv = config.get<Record<string, string>>("server.env") ?? {};
  // No `transport` on purpose: with one, the client appends `--stdio` to the arguments.
  const run = {
    command,
    args: ["lsp"],
    options: { env: { ...process.env, ...extraEnv } },
  };
  return { run, debug: run };
}

async function start(): Promise<void> {
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "charter" },
      { scheme: "file", pattern: "**/charter.toml" },
    ],
    // The server registers its own file watchers (`**/*.charter`, `**/charter.toml`).
    outputChannelName: "Charter",
  };
  client = new LanguageClient("charter", "Charter", serverOptions(), clientOptions);
  try {
    await client.start();
  } catch (err) {
    const path = vscode.workspace.getConfiguration("charter").get<string>("server.path");
    void vscode.window.showErrorMessage(
      `Charter: cannot start \`${path || "charter"} lsp\` (${String(err)}). ` +
        "Install the charter CLI or set `charter.server.path`.",
    );
  }
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  context.subscriptions.push(
    vscode.commands.registerCommand("charter.restartServer", async () => {
      if (client) {
        await client.stop();
      }
      await start();
    }),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (e.affectsConfiguration("charter.server")) {
        await vscode.commands.executeCommand("charter.restartServer");
      }
    }),
  );
  await start();
}

export function deactivate(): Thenable<void> | undefined {
  return client?.stop();
}
