// Khronos glTF-Validator bridge for asset_pipeline/checks/validator.py.
//
// Usage:
//   node validate.mjs a.glb b.glb ...        validate the files named as arguments
//   node validate.mjs < paths.json           validate the files in a JSON list of paths read from stdin
//   node validate.mjs --version              print the validator's version
//
// Prints one JSON object per line (JSON Lines), in input order:
//   {"file", "validatorVersion", "numErrors", "numWarnings", "numInfos", "numHints", "truncated", "messages"}
// where "messages" holds the first MAX_MESSAGES issues of severity error or warning
// ({code, severity: "error"|"warning", message, pointer?, offset?}). A file the validator cannot
// read at all (no glTF/GLB signature, unreadable path) gets {"file", "fatal": "<reason>"}.
// One process validates every file: node and the validator's Dart-compiled JS take ~0.3 s to start.

import { readFile } from "node:fs/promises";
import * as validator from "gltf-validator";

const MAX_MESSAGES = 50;
const SEVERITY_NAMES = ["error", "warning", "info", "hint"];

async function readStdin() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
}

async function inputPaths(argv) {
  if (argv.length > 0) return argv;
  const list = JSON.parse(await readStdin());
  if (!Array.isArray(list) || !list.every((p) => typeof p === "string")) {
    throw new Error("stdin must hold a JSON list of file paths");
  }
  return list;
}

// The pipeline only validates self-contained GLBs: any external URI is itself a defect, so the
// validator is told it cannot be loaded (it then reports the reference as an issue).
const rejectExternal = (uri) => Promise.reject(new Error(`external resource ${uri} not allowed in a self-contained GLB`));

async function validateFile(path) {
  let bytes;
  try {
    bytes = new Uint8Array(await readFile(path));
  } catch (err) {
    return { file: path, fatal: `cannot read file: ${err.message}` };
  }
  let report;
  try {
    report = await validator.validateBytes(bytes, {
      uri: path,
      maxIssues: 0, // unlimited: the counts must be exact; messages are trimmed below
      writeTimestamp: false,
      externalResourceFunction: rejectExternal,
    });
  } catch (err) {
    // validateBytes rejects only when it cannot even detect glTF or GLB.
    return { file: path, fatal: String(err && err.message ? err.message : err) };
  }
  const issues = report.issues;
  const serious = issues.messages.filter((m) => m.severity <= 1);
  return {
    file: path,
    validatorVersion: report.validatorVersion,
    numErrors: issues.numErrors,
    numWarnings: issues.numWarnings,
    numInfos: issues.numInfos,
    numHints: issues.numHints,
    truncated: issues.truncated || serious.length > MAX_MESSAGES,
    messages: serious.slice(0, MAX_MESSAGES).map((m) => {
      const out = { code: m.code, severity: SEVERITY_NAMES[m.severity] ?? String(m.severity), message: m.message };
      if (m.pointer !== undefined) out.pointer = m.pointer;
      if (m.offset !== undefined) out.offset = m.offset;
      return out;
    }),
  };
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv[0] === "--version") {
    process.stdout.write(validator.version() + "\n");
    return;
  }
  for (const path of await inputPaths(argv)) {
    process.stdout.write(JSON.stringify(await validateFile(path)) + "\n");
  }
}

main().catch((err) => {
  process.stderr.write(`validate.mjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(2);
});
