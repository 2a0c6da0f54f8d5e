// Reads a seam's contract out of its source, with TypeScript's own checker: the members of other
// projects' objects (pg's, Node's) that the seam file touches. Nothing here is a list kept by hand,
// so the contract tests check what the seam really uses, and a member added to the seam is checked
// from the moment it is used.
//   pgMembers(file): { 'PgClient.secretKey': { optional, method }, ... } for every member of an
//     interface declared in the file that the file reads or writes, or names as a method to wrap
//     (a `satisfies Record<string, keyof X>` object's values).
//   privateAccesses(file): ['process._getActiveHandles', 'Module._extensions', ...]: every property
//     the file reaches that Node's own typings (@types/node) do not declare, by the name it is
//     reached from (a variable or parameter) and the path below it.
const ts = require('typescript');

// The project's own compiler options (tsconfig.json), for these files alone.
function createProgram(files) {
  return ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.Node16,
    moduleResolution: ts.ModuleResolutionKind.Node16,
    strict: true,
    types: ['node'],
    skipLibCheck: true,
  });
}

function program(file) {
  const p = createProgram([file]);
  return { checker: p.getTypeChecker(), sf: p.getSourceFile(file) };
}

function walk(node, fn) {
  fn(node);
  ts.forEachChild(node, (n) => walk(n, fn));
}

function pgMembers(file) {
  const { checker, sf } = program(file);
  const out = {};
  const add = (iface, member) => {
    const decl = iface.members.find((m) => m.name && m.name.getText(sf) === member);
    if (!decl) return;
    out[`${iface.name.text}.${member}`] = { optional: !!decl.questionToken, method: ts.isMethodSignature(decl) };
  };
  const interfaces = new Map();
  for (const s of sf.statements) if (ts.isInterfaceDeclaration(s)) interfaces.set(s.name.text, s);
  walk(sf, (n) => {
    let name;
    if (ts.isPropertyAccessExpression(n)) name = n.name;
    else if (ts.isElementAccessExpression(n) && ts.isStringLiteral(n.argumentExpression)) name = n.argumentExpression;
    if (name) {
      const sym = checker.getSymbolAtLocation(name);
      for (const d of sym?.declarations ?? []) {
        if (d.getSourceFile() === sf && ts.isInterfaceDeclaration(d.parent)) add(d.parent, sym.name);
      }
    }
    // { a: '_b', ... } as const satisfies Record<string, keyof X>: X's methods to wrap.
    if (ts.isSatisfiesExpression(n) && ts.isTypeReferenceNode(n.type) && n.type.typeArguments?.length === 2) {
      const keyOf = n.type.typeArguments[1];
      if (ts.isTypeOperatorNode(keyOf) && ts.isTypeReferenceNode(keyOf.type)) {
        const iface = interfaces.get(keyOf.type.typeName.getText(sf));
        let obj = n.expression;
        while (ts.isAsExpression(obj) || ts.isParenthesizedExpression(obj)) obj = obj.expression;
        if (iface && ts.isObjectLiteralExpression(obj)) {
          for (const p of obj.properties) if (ts.isPropertyAssignment(p) && ts.isStringLiteral(p.initializer)) add(iface, p.initializer.text);
        }
      }
    }
  });
  return out;
}

function isNodeTyping(decl) {
  return /[\\/]@types[\\/]node[\\/]/.test(decl.getSourceFile().fileName) || /[\\/]typescript[\\/]lib[\\/]/.test(decl.getSourceFile().fileName);
}

function privateAccesses(file) {
  const { checker, sf } = program(file);
  const found = new Set();
  walk(sf, (n) => {
    if (!ts.isPropertyAccessExpression(n)) return;
    const sym = checker.getSymbolAtLocation(n.name);
    const decls = sym?.declarations ?? [];
    if (decls.length === 0 || decls.some(isNodeTyping) || decls.every((d) => d.getSourceFile() !== sf)) return;
    // The path from the variable it is reached from: casts, parentheses and calls stripped.
    const path = [n.name.text];
    let e = n.expression;
    for (;;) {
      if (ts.isAsExpression(e) || ts.isParenthesizedExpression(e) || ts.isNonNullExpression(e)) e = e.expression;
      else if (ts.isCallExpression(e)) e = e.expression;
      else if (ts.isPropertyAccessExpression(e)) {
        path.unshift(e.name.text);
        e = e.expression;
      } else break;
    }
    if (ts.isIdentifier(e)) found.add([e.text, ...path].join('.'));
  });
  // A path that another path extends is part of it: keep the longest.
  const all = [...found];
  return all.filter((p) => !all.some((q) => q !== p && q.startsWith(`${p}.`))).sort();
}

/**
 * Where files other than the seam reach into what only the seam may know: every property access
 * whose member is declared by an interface of `seamFile`, and every property whose name starts
 * with '_' (how Node's and pg's private members are named). `allowed` lists 'Interface.member's
 * that are public API (pool.totalCount). Returns 'file:line Interface.member' lines.
 */
function accessesOutside(files, seamFile, allowed = []) {
  const p = createProgram(files);
  const checker = p.getTypeChecker();
  const seam = require('node:path').resolve(seamFile);
  const out = [];
  for (const file of files) {
    const sf = p.getSourceFile(file);
    if (require('node:path').resolve(sf.fileName) === seam) continue;
    walk(sf, (n) => {
      if (!ts.isPropertyAccessExpression(n)) return;
      const name = n.name.text;
      const line = sf.getLineAndCharacterOfPosition(n.getStart(sf)).line + 1;
      const sym = checker.getSymbolAtLocation(n.name);
      for (const d of sym?.declarations ?? []) {
        if (require('node:path').resolve(d.getSourceFile().fileName) !== seam || !ts.isInterfaceDeclaration(d.parent)) continue;
        const key = `${d.parent.name.text}.${name}`;
        if (!allowed.includes(key)) out.push(`${file}:${line} ${key}`);
        return;
      }
      if (name.startsWith('_')) out.push(`${file}:${line} ${n.expression.getText(sf)}.${name}`);
    });
  }
  return out;
}

module.exports = { pgMembers, privateAccesses, accessesOutside };
