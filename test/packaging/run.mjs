#!/usr/bin/env node
// The packaging test: what a user installs, tried the way a user would.
//
// 1. Packs libs/redis-queue from a clean tree (`npm pack`: its prepack script builds it).
// 2. Checks the tarball (package-check.mjs), then shows the check failing on broken copies of it.
// 3. Makes fresh apps from templates/ (plus the README's quick-start files), installs the tarball into
//    each (one with npm's isolated layout, the one pnpm uses), type-checks them and runs their tests
//    against a real Redis, started and stopped by the README's global setup.
//
// Usage: node test/packaging/run.mjs [--keep] [--app=<template>]
//   --keep        leave the work folder (its path is printed) for a look
//   --app=NAME    only that app (the tarball checks always run)
// Needs network access to the npm registry (or a warm npm cache) and redis-server on PATH.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { checkPackage } from './package-check.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const library = join(root, 'libs', 'redis-queue');
const args = process.argv.slice(2);
const keep = args.includes('--keep');
const only = args.find((a) => a.startsWith('--app='))?.slice('--app='.length);

/**
 * The apps. `from` copies repository folders into the app (the README's own files); `absent` are
 * packages the app must not have, so that its tests prove the package works without them.
 */
const apps = [
  {
    template: 'esm-vitest',
    what: 'ESM app, Vitest, npm --install-strategy=linked (the isolated layout pnpm uses), no class-validator, no optional integration (prom-client, terminus, OpenTelemetry); the dashboard and rq as installed',
    install: ['--install-strategy=linked'],
    absent: ['class-validator', 'class-transformer', 'testcontainers', 'prom-client', '@nestjs/terminus', '@opentelemetry/api'],
    steps: [['npm', 'run', 'typecheck'], ['npm', 'test']],
  },
  {
    template: 'cjs-jest',
    what: 'CommonJS app (the README quick start), Jest, hoisted node_modules',
    install: [],
    from: [['examples/quick-start', 'src']],
    absent: ['testcontainers'],
    steps: [['npm', 'run', 'typecheck'], ['npm', 'test'], ['npm', 'run', 'build']],
    smoke: { main: 'dist/src/main.js', started: /Nest application successfully started/, stopped: /Worker loops stopped/ },
  },
];

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)}s`;
const say = (line) => console.log(`packaging: ${line} (${elapsed()})`);

/**
 * The environment of a user's shell: none of the npm_* variables of an enclosing `npm run`; `extra`
 * adds variables, and removes those it sets to undefined.
 */
function userEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD'));
  for (const [key, value] of Object.entries(extra)) {
    if (value === undefined) delete env[key];
    else env[key] = value;
  }
  return env;
}

/** Runs a command; on failure prints its output and throws. Returns its stdout (and stderr, if `both`). */
function run(command, commandArgs, cwd, env = userEnv(), both = false) {
  const result = spawnSync(command, commandArgs, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    process.stdout.write(result.stdout ?? '');
    process.stderr.write(result.stderr ?? '');
    throw new Error(`${command} ${commandArgs.join(' ')} (in ${cwd}) failed with exit code ${result.status ?? result.signal}`);
  }
  return both ? `${result.stdout}\n${result.stderr}` : result.stdout;
}

function report(title, { problems, warnings }) {
  for (const warning of warnings) console.log(`  warning: ${warning}`);
  if (problems.length === 0) return;
  console.log(`${title}:`);
  for (const problem of problems) console.log(`  - ${problem}`);
  throw new Error(`${title}: ${problems.length} problem(s)`);
}

/**
 * Broken copies of the package, each with a defect the check must report (the defects found in the
 * package before this test existed, and the ones the next dependency or subpath would bring).
 */
const breakages = [
  ['a runtime dependency left undeclared (cluster-key-slot)', (m) => delete m.dependencies['cluster-key-slot'], 'imports "cluster-key-slot", which package.json does not declare'],
  ['a new import nobody declared (left-pad)', (m, dir) => append(dir, 'dist/engine/codec.js', "\nimport 'left-pad';\n"), 'imports "left-pad", which package.json does not declare'],
  ['an optional peer imported when the package loads', (m, dir) => append(dir, 'dist/index.js', "\nimport 'testcontainers';\n"), '"testcontainers" is an optional peer'],
  ['an optional peer in peerDependenciesMeta only', (m) => delete m.peerDependencies.testcontainers, 'in peerDependenciesMeta but not in peerDependencies'],
  ['no README', (m, dir) => rmSync(join(dir, 'README.md')), 'no README'],
  ['no LICENSE', (m, dir) => rmSync(join(dir, 'LICENSE')), 'no LICENSE'],
  ['source maps pointing at sources it does not ship', (m, dir) => stripSources(dir, 'dist/index.js.map'), 'the map does not resolve'],
  ['no prepack script', (m) => delete m.scripts.prepack, 'no "prepack" script'],
  ['no repository', (m) => delete m.repository, 'no "repository"'],
  ['no keywords', (m) => delete m.keywords, 'no "keywords"'],
  ['no typesVersions', (m) => delete m.typesVersions, 'typesVersions has no entry for "testing"'],
  ['a new subpath export without types', (m) => (m.exports['./dashboard'] = { default: './dist/dashboard/index.js' }), 'exports["./dashboard"] has no "types" condition'],
  ['a command without its file', (m) => (m.bin = { rq: './dist/cli/rq.js' }), 'bin "rq" is ./dist/cli/rq.js, which the package does not contain'],
  ['a command without its #! line', (m, dir) => writeFileSync(join(dir, 'dist/cli/main.js'), readFileSync(join(dir, 'dist/cli/main.js'), 'utf8').replace(/^#![^\n]*\n/, '')), 'bin "rq" (./dist/cli/main.js) has no #! line'],
  ['the dashboard\'s page left out of the package', (m, dir) => rmSync(join(dir, 'dist/dashboard/assets'), { recursive: true }), 'dist/dashboard/dashboard.assets.js needs dist/dashboard/assets/index.html'],
  ['a package packed before a build (npm pack with no prepack: only package.json)', (m, dir) => rmSync(join(dir, 'dist'), { recursive: true }), '"main" is ./dist/index.js, which the package does not contain'],
];

function append(dir, file, text) {
  writeFileSync(join(dir, file), readFileSync(join(dir, file), 'utf8') + text);
}

function stripSources(dir, file) {
  const map = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  delete map.sourcesContent;
  writeFileSync(join(dir, file), JSON.stringify(map));
}

function selfTest(work, unpacked) {
  for (const [what, breakIt, expected] of breakages) {
    const copy = join(work, 'broken');
    rmSync(copy, { recursive: true, force: true });
    cpSync(unpacked, copy, { recursive: true });
    const manifestPath = join(copy, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
    breakIt(manifest, copy);
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    const { problems } = checkPackage(copy);
    if (!problems.some((p) => p.includes(expected))) {
      throw new Error(`the package check missed a defect: ${what} (expected a problem containing "${expected}"; got ${JSON.stringify(problems)})`);
    }
  }
  rmSync(join(work, 'broken'), { recursive: true, force: true });
}

/** Runs the app's built entry point, waits for `started`, sends SIGTERM and expects `stopped` and an end. */
async function smoke(appDir, { main, started: startedLine, stopped }) {
  const testing = await import(pathToFileURL(join(appDir, 'node_modules', 'nestjs-redis-queue', 'dist', 'testing', 'index.js')).href);
  const redis = await testing.RedisServer.start();
  try {
    const child = spawn(process.execPath, [main], { cwd: appDir, env: userEnv({ REDIS_URL: redis.url, PORT: '0' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${main} did not start within 60 s:\n${output}`)), 60_000);
      const onData = (chunk) => {
        output += chunk;
        if (startedLine.test(output)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      exited.then((code) => reject(new Error(`${main} exited (${code}) before it started:\n${output}`)));
    });
    child.kill('SIGTERM');
    // Nest's shutdown hooks close the app, then raise the signal again: the process ends by SIGTERM.
    const code = await exited;
    if ((code !== 0 && code !== 'SIGTERM') || !stopped.test(output)) {
      throw new Error(`${main} on SIGTERM: ended with ${code}, expected the app to close (${stopped}) and end:\n${output}`);
    }
  } finally {
    await redis.stop();
  }
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'rq-packaging-'));
  try {
    // 1. Pack from a clean tree: without a prepack that builds, this is a package with no dist/.
    run('npm', ['run', 'clean', '--silent'], library);
    const packed = JSON.parse(run('npm', ['pack', '--json', '--pack-destination', work], library));
    const tarball = join(work, 'nestjs-redis-queue.tgz');
    renameSync(join(work, packed[0].filename), tarball);
    say(`packed ${packed[0].filename}: ${packed[0].entryCount} files, ${(packed[0].size / 1024).toFixed(0)} KiB`);

    // 2. The tarball's contents and manifest, then the check's own test on broken copies.
    const unpacked = join(work, 'unpacked');
    mkdirSync(unpacked);
    run('tar', ['-xzf', tarball, '-C', unpacked], work);
    const result = checkPackage(join(unpacked, 'package'));
    say(`package check: ${result.summary}`);
    report('the package check failed', result);
    selfTest(work, join(unpacked, 'package'));
    say(`package check self-test: each of ${breakages.length} broken copies of the package was caught`);

    // 3. Fresh apps.
    for (const app of apps.filter((a) => !only || a.template === only)) {
      const dir = join(work, app.template);
      cpSync(join(here, 'templates', app.template), dir, { recursive: true });
      for (const [from, to] of app.from ?? []) cpSync(join(root, from), join(dir, to), { recursive: true });
      run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...app.install], dir);
      const present = app.absent.filter((name) => existsSync(join(dir, 'node_modules', name)));
      if (present.length > 0) throw new Error(`${app.template}: ${present.join(', ')} got installed, so the app cannot show the package works without them`);
      say(`${app.template}: installed (${app.what})`);
      for (const step of app.steps) {
        // No REDIS_URL: the README's global setup starts a Redis and stops it.
        const out = run(step[0], step.slice(1), dir, userEnv({ REDIS_URL: undefined, CI: 'true' }), true);
        const tests = /Tests:?\s+(.*\d+ passed.*)/.exec(stripVTControlCharacters(out))?.[1];
        say(`${app.template}: ${step.join(' ')} ok${tests ? ` (${tests.trim()})` : ''}`);
      }
      if (app.smoke) {
        await smoke(dir, app.smoke);
        say(`${app.template}: node ${app.smoke.main} started, and closed the app and ended on SIGTERM`);
      }
    }
    say('passed');
  } finally {
    if (keep) console.log(`packaging: work folder kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`packaging: FAILED: ${error.message}`);
  process.exit(1);
});
