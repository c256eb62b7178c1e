// Checks an unpacked npm package (the folder a tarball's "package/" holds) for what makes it right by
// construction, whatever code it holds:
// - every bare import in its JavaScript is declared: in "dependencies" or as a peer; an optional peer only
//   through import() (loaded when used), never by a static import that runs when the package loads;
// - every import in its type declarations is declared too;
// - "main", "types" and every "exports" subpath point at files it ships, each with its types, and
//   "typesVersions" maps every subpath for `moduleResolution: node`;
// - README, LICENSE, "repository", "keywords" and a "prepack" script are there, no test files are, and
//   every "bin" command is shipped with its #! line;
// - every source map resolves: each source is shipped, or its text is inlined in the map;
// - the files the code reads at run time (the dashboard's page and assets) are shipped.
// Used by run.mjs (with `checkPackage`), which also feeds it broken copies to show it catches each defect.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** Every file under `dir`, as paths relative to it with forward slashes. */
function filesOf(dir) {
  const out = [];
  const walk = (at) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.push(relative(dir, path).split(sep).join('/'));
    }
  };
  walk(dir);
  return out.sort();
}

/** The package a bare specifier names: `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
export function packageName(specifier) {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]));
const isBuiltin = (specifier) => specifier.startsWith('node:') || builtins.has(packageName(specifier));
const isRelative = (specifier) => specifier.startsWith('./') || specifier.startsWith('../') || specifier === '.';

/**
 * The module specifiers a JavaScript file loads: `static` (import/export ... from, and import() or
 * require() calls outside any function: they run when the file is loaded) and `lazy` (import() or
 * require() inside a function: they run when it is called). `computed` lists import() or require() calls
 * whose argument is not a string literal: those cannot be checked.
 */
export function importsOfJs(source, fileName) {
  const file = ts.createSourceFile(fileName, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const found = { static: [], lazy: [], computed: [] };
  const literal = (node) => (node && ts.isStringLiteralLike(node) ? node.text : undefined);
  const visit = (node, inFunction) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier) {
      found.static.push(literal(node.moduleSpecifier));
    } else if (ts.isCallExpression(node)) {
      const isImport = node.expression.kind === ts.SyntaxKind.ImportKeyword;
      const isRequire = ts.isIdentifier(node.expression) && node.expression.text === 'require';
      if (isImport || isRequire) {
        const specifier = literal(node.arguments[0]);
        const line = file.getLineAndCharacterOfPosition(node.getStart()).line + 1;
        if (specifier === undefined) found.computed.push(`${fileName}:${line}`);
        else (inFunction ? found.lazy : found.static).push(specifier);
      }
    }
    ts.forEachChild(node, (child) => visit(child, inFunction || ts.isFunctionLike(node)));
  };
  visit(file, false);
  return found;
}

/** The module specifiers a declaration file refers to (imports, import("x") types, reference directives). */
export function importsOfDts(source) {
  const info = ts.preProcessFile(source, true, true);
  return [...info.importedFiles, ...info.typeReferenceDirectives].map((ref) => ref.fileName);
}

/** The files a conditional "exports" target can load, with the condition that leads to each. */
function exportTargets(target, condition = 'default') {
  if (typeof target === 'string') return [{ condition, file: target }];
  if (Array.isArray(target)) return target.flatMap((t) => exportTargets(t, condition));
  if (target && typeof target === 'object') return Object.entries(target).flatMap(([c, t]) => exportTargets(t, c));
  return [];
}

/**
 * Checks the unpacked package in `dir`. Returns `{ problems, warnings, summary }`: problems fail the
 * check, warnings do not.
 */
export function checkPackage(dir) {
  const problems = [];
  const warnings = [];
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const files = filesOf(dir);
  const has = (file) => files.includes(posix.normalize(file.replace(/^\.\//, '')));

  // Metadata and the files npm does not add by itself.
  if (!files.some((f) => /^readme(\.md)?$/i.test(f))) problems.push('no README in the package');
  if (!files.some((f) => /^licen[cs]e(\.md|\.txt)?$/i.test(f))) problems.push('no LICENSE file in the package');
  else if (manifest.license === 'MIT' && !/MIT License/.test(readFileSync(join(dir, files.find((f) => /^licen[cs]e/i.test(f))), 'utf8'))) {
    problems.push('package.json says MIT, but the LICENSE file is not the MIT license');
  }
  if (!manifest.repository) problems.push('package.json has no "repository"');
  if (!Array.isArray(manifest.keywords) || manifest.keywords.length === 0) problems.push('package.json has no "keywords"');
  if (!manifest.scripts?.prepack) {
    problems.push('package.json has no "prepack" script: `npm pack` or `npm publish` before a build would ship no dist/');
  }
  if (!manifest.engines?.node) problems.push('package.json has no "engines.node"');

  for (const file of files.filter((f) => /\.(spec|test)\.[cm]?[jt]s$|\.tsbuildinfo$/.test(f))) {
    problems.push(`${file} is a test or build artifact; keep it out of the package ("files")`);
  }

  // Commands: each "bin" target shipped, and runnable as a script.
  const bins = typeof manifest.bin === 'string' ? { [manifest.name]: manifest.bin } : (manifest.bin ?? {});
  for (const [command, file] of Object.entries(bins)) {
    if (!has(file)) problems.push(`bin "${command}" is ${file}, which the package does not contain`);
    else if (!readFileSync(join(dir, file), 'utf8').startsWith('#!')) problems.push(`bin "${command}" (${file}) has no #! line`);
  }

  // Entry points: main, types, exports (with types for every subpath) and typesVersions.
  for (const field of ['main', 'types']) {
    if (!manifest[field]) problems.push(`package.json has no "${field}"`);
    else if (!has(manifest[field])) problems.push(`"${field}" is ${manifest[field]}, which the package does not contain`);
  }
  const exportsMap = manifest.exports ?? {};
  if (typeof exportsMap !== 'object' || Object.keys(exportsMap).length === 0) problems.push('package.json has no "exports"');
  const subpaths = Object.keys(exportsMap).filter((key) => key !== './package.json');
  const typesVersions = manifest.typesVersions?.['*'] ?? {};
  for (const subpath of subpaths) {
    const targets = exportTargets(exportsMap[subpath]);
    for (const { condition, file } of targets) {
      if (!has(file)) problems.push(`exports["${subpath}"] (${condition}) is ${file}, which the package does not contain`);
    }
    const conditions = typeof exportsMap[subpath] === 'object' ? Object.keys(exportsMap[subpath]) : [];
    const types = targets.find((t) => t.condition === 'types')?.file;
    if (!types) problems.push(`exports["${subpath}"] has no "types" condition`);
    else if (conditions[0] !== 'types') problems.push(`exports["${subpath}"]: "types" must come first (TypeScript stops at the first match)`);
    if (subpath === '.') {
      if (types && manifest.types && posix.normalize(types) !== posix.normalize(manifest.types)) {
        problems.push(`exports["."] types (${types}) and "types" (${manifest.types}) differ`);
      }
      continue;
    }
    const mapped = typesVersions[subpath.replace(/^\.\//, '')];
    if (!mapped) {
      problems.push(`typesVersions has no entry for "${subpath.replace(/^\.\//, '')}": with \`moduleResolution: node\`, TypeScript cannot find the types of ${manifest.name}/${subpath.replace(/^\.\//, '')}`);
    } else if (!mapped.some((file) => has(file))) {
      problems.push(`typesVersions["${subpath.replace(/^\.\//, '')}"] points at ${mapped.join(', ')}, which the package does not contain`);
    }
  }

  // Files the code reads at run time, beside itself (not imports, so not followed above).
  const readAtRunTime = [
    ['dist/dashboard/dashboard.assets.js', ['dist/dashboard/assets/index.html', 'dist/dashboard/assets/app.js', 'dist/dashboard/assets/dashboard.css']],
  ];
  for (const [reader, needed] of readAtRunTime) {
    if (!has(reader)) continue;
    for (const file of needed) if (!has(file)) problems.push(`${reader} needs ${file}, which the package does not contain (the build copies it)`);
  }

  // Declared dependencies, and what the code loads.
  const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
  const peers = new Set(Object.keys(manifest.peerDependencies ?? {}));
  const optional = new Set(Object.entries(manifest.peerDependenciesMeta ?? {}).filter(([, m]) => m?.optional).map(([n]) => n));
  for (const name of Object.keys(manifest.peerDependenciesMeta ?? {})) {
    if (!peers.has(name)) problems.push(`"${name}" is in peerDependenciesMeta but not in peerDependencies, so no version range is declared for it`);
  }
  const required = (name) => dependencies.has(name) || (peers.has(name) && !optional.has(name));
  const declared = (name) => dependencies.has(name) || peers.has(name);
  const imported = new Map(); // package -> files
  const note = (name, file) => imported.set(name, [...(imported.get(name) ?? []), file]);
  let jsFiles = 0;
  for (const file of files.filter((f) => /\.(c|m)?js$/.test(f))) {
    jsFiles++;
    const found = importsOfJs(readFileSync(join(dir, file), 'utf8'), file);
    for (const where of found.computed) problems.push(`${where}: import() or require() of a computed name, which cannot be checked`);
    for (const [specifier, lazy] of [...found.static.map((s) => [s, false]), ...found.lazy.map((s) => [s, true])]) {
      if (isRelative(specifier)) {
        const target = posix.normalize(posix.join(posix.dirname(file), specifier));
        if (!has(target)) problems.push(`${file} imports ${specifier}, which the package does not contain`);
        continue;
      }
      if (isBuiltin(specifier)) continue;
      const name = packageName(specifier);
      if (name === manifest.name) continue;
      note(name, file);
      if (!declared(name)) {
        problems.push(`${file} imports "${name}", which package.json does not declare (add it to "dependencies", or as a peer)`);
      } else if (!lazy && !required(name)) {
        problems.push(
          `${file} imports "${name}" when the package loads, but "${name}" is an optional peer: without it the package ` +
            'does not load. Load it with import() where it is used, and say which package to install when it is missing',
        );
      }
    }
  }
  for (const file of files.filter((f) => f.endsWith('.d.ts'))) {
    for (const specifier of importsOfDts(readFileSync(join(dir, file), 'utf8'))) {
      if (isRelative(specifier) || isBuiltin(specifier)) continue;
      const name = packageName(specifier);
      if (name === manifest.name || name === 'node') continue;
      if (!declared(name) && !name.startsWith('@types/')) {
        problems.push(`${file} refers to types of "${name}", which package.json does not declare`);
      } else if (optional.has(name)) {
        warnings.push(`${file} refers to types of the optional peer "${name}": an app without it and with skipLibCheck off gets TS2307`);
      }
    }
  }

  // Source maps: each source shipped, or inlined as sourcesContent.
  let maps = 0;
  for (const file of files.filter((f) => f.endsWith('.js'))) {
    const url = /\/\/# sourceMappingURL=(\S+)\s*$/.exec(readFileSync(join(dir, file), 'utf8'))?.[1];
    if (url && !url.startsWith('data:') && !has(posix.join(posix.dirname(file), url))) {
      problems.push(`${file} names the source map ${url}, which the package does not contain`);
    }
  }
  for (const file of files.filter((f) => f.endsWith('.map'))) {
    maps++;
    const map = JSON.parse(readFileSync(join(dir, file), 'utf8'));
    (map.sources ?? []).forEach((source, i) => {
      const path = resolve(dirname(join(dir, file)), map.sourceRoot ?? '', source);
      const shipped = path.startsWith(resolve(dir) + sep) && existsSync(path) && statSync(path).isFile();
      if (!shipped && typeof map.sourcesContent?.[i] !== 'string') {
        problems.push(`${file}: source ${source} is neither in the package nor inlined (sourcesContent): the map does not resolve`);
      }
    });
  }

  const summary =
    `${files.length} files, ${jsFiles} JavaScript files, ${maps} source maps; imports ${[...imported.keys()].sort().join(', ')}; ` +
    `dependencies ${[...dependencies].join(', ') || 'none'}; peers ${[...peers].map((p) => (optional.has(p) ? `${p} (optional)` : p)).join(', ')}`;
  return { problems, warnings, summary, imported };
}
