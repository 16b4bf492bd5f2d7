import { readFileSync } from 'node:fs';
import ts from 'typescript';

/** Kind of a documented declaration, stored as the record's `level` metadata. */
export type DeclarationLevel =
  | 'module'
  | 'class'
  | 'interface'
  | 'type'
  | 'enum'
  | 'enum-member'
  | 'function'
  | 'variable'
  | 'method'
  | 'property'
  | 'accessor'
  | 'constructor'
  | 'call-signature'
  | 'construct-signature'
  | 'index-signature';

/** One documented declaration found by {@link extractSummariesFromText}. */
export interface SymbolSummary {
  /** `<file label>:<qualified name>`, unique within one extraction (overloads get `~2`, `~3`, ...). */
  id: string;
  /** File label the declaration came from (e.g. `lib.dom.d.ts` or a path relative to `--source`). */
  file: string;
  /** Dotted name including containers, e.g. `HTMLElement.click` or `Intl.DateTimeFormat`. */
  name: string;
  /** Declaration kind. */
  level: DeclarationLevel;
  /** JSDoc comment text: the description, then one line per tag (`@param x ...`). Never empty. */
  text: string;
}

/**
 * Extracts every documented declaration (one with non-empty JSDoc text) from one TS/JS source text,
 * in source order. Containers (namespaces, classes, interfaces, enums, object-literal types of
 * variables) qualify the names of their members; a member is reported even when its container is not
 * documented. Parsing only (no type checking), so it is fast and needs no project setup.
 *
 * @param fileLabel - prefix of the ids and `file` of the summaries.
 * @param fileName - used to pick the script kind (`.ts`, `.tsx`, `.js`, ...).
 */
export function extractSummariesFromText(fileLabel: string, fileName: string, text: string): SymbolSummary[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, scriptKindOf(fileName));
  const out: SymbolSummary[] = [];
  const seen = new Map<string, number>();

  const emit = (node: ts.Node, name: string, level: DeclarationLevel) => {
    const doc = docText(node);
    if (doc === '') return;
    const n = (seen.get(name) ?? 0) + 1;
    seen.set(name, n);
    const id = `${fileLabel}:${name}${n > 1 ? `~${n}` : ''}`;
    out.push({ id, file: fileLabel, name, level, text: doc });
  };

  const visitMembers = (members: ts.NodeArray<ts.Node>, container: string) => {
    for (const member of members) visitMember(member, container);
  };

  const visitMember = (member: ts.Node, container: string) => {
    const q = (name: string) => (container ? `${container}.${name}` : name);
    if (ts.isMethodSignature(member) || ts.isMethodDeclaration(member))
      emit(member, q(nameOf(member.name)), 'method');
    else if (ts.isPropertySignature(member) || ts.isPropertyDeclaration(member)) {
      const name = q(nameOf(member.name));
      emit(member, name, 'property');
      if (member.type && ts.isTypeLiteralNode(member.type)) visitMembers(member.type.members, name);
    } else if (ts.isGetAccessorDeclaration(member) || ts.isSetAccessorDeclaration(member))
      emit(member, q(nameOf(member.name)), 'accessor');
    else if (ts.isConstructorDeclaration(member) || ts.isConstructSignatureDeclaration(member))
      emit(
        member,
        q('constructor'),
        ts.isConstructorDeclaration(member) ? 'constructor' : 'construct-signature',
      );
    else if (ts.isCallSignatureDeclaration(member)) emit(member, q('(call)'), 'call-signature');
    else if (ts.isIndexSignatureDeclaration(member)) emit(member, q('[index]'), 'index-signature');
    else if (ts.isEnumMember(member)) emit(member, q(nameOf(member.name)), 'enum-member');
  };

  const visitStatements = (statements: ts.NodeArray<ts.Statement>, container: string) => {
    for (const st of statements) visitStatement(st, container);
  };

  const visitStatement = (st: ts.Statement, container: string) => {
    const q = (name: string) => (container ? `${container}.${name}` : name);
    if (ts.isInterfaceDeclaration(st)) {
      const name = q(st.name.text);
      emit(st, name, 'interface');
      visitMembers(st.members, name);
    } else if (ts.isClassDeclaration(st)) {
      const name = q(st.name?.text ?? 'default');
      emit(st, name, 'class');
      visitMembers(st.members, name);
    } else if (ts.isFunctionDeclaration(st)) {
      emit(st, q(st.name?.text ?? 'default'), 'function');
    } else if (ts.isTypeAliasDeclaration(st)) {
      const name = q(st.name.text);
      emit(st, name, 'type');
      if (ts.isTypeLiteralNode(st.type)) visitMembers(st.type.members, name);
    } else if (ts.isEnumDeclaration(st)) {
      const name = q(st.name.text);
      emit(st, name, 'enum');
      visitMembers(st.members, name);
    } else if (ts.isModuleDeclaration(st)) {
      visitModule(st, container);
    } else if (ts.isVariableStatement(st)) {
      for (const decl of st.declarationList.declarations) {
        const name = q(nameOf(decl.name));
        emit(decl, name, 'variable');
        if (decl.type && ts.isTypeLiteralNode(decl.type)) visitMembers(decl.type.members, name);
      }
    }
  };

  const visitModule = (mod: ts.ModuleDeclaration, container: string) => {
    // `declare global { ... }` adds nothing to names; `namespace A.B {}` nests.
    const isGlobal = (mod.flags & ts.NodeFlags.GlobalAugmentation) !== 0;
    const own = isGlobal ? '' : ts.isStringLiteral(mod.name) ? JSON.stringify(mod.name.text) : mod.name.text;
    const name = own === '' ? container : container ? `${container}.${own}` : own;
    if (!isGlobal) emit(mod, name, 'module');
    const body = mod.body;
    if (!body) return;
    if (ts.isModuleBlock(body)) visitStatements(body.statements, name);
    else if (ts.isModuleDeclaration(body)) visitModule(body, name);
  };

  visitStatements(source.statements, '');
  return out;
}

/** Reads a file and runs {@link extractSummariesFromText} on it. */
export function extractSummariesFromFile(fileLabel: string, path: string): SymbolSummary[] {
  return extractSummariesFromText(fileLabel, path, readFileSync(path, 'utf8'));
}

/**
 * The JSDoc text attached to `node` (closest comment: description plus one line per tag), or `''` when
 * there is none or it has no prose at all.
 */
function docText(node: ts.Node): string {
  const docs = ts.getJSDocCommentsAndTags(node).filter(ts.isJSDoc);
  const doc = docs[docs.length - 1];
  if (!doc) return '';
  const parts: string[] = [];
  let prose = false;
  const description = ts.getTextOfJSDocComment(doc.comment)?.trim();
  if (description) {
    parts.push(description);
    prose = true;
  }
  for (const tag of doc.tags ?? []) {
    const comment = ts.getTextOfJSDocComment(tag.comment)?.trim() ?? '';
    const param = ts.isJSDocParameterTag(tag) ? ` ${tag.name.getText()}` : '';
    parts.push(`@${tag.tagName.text}${param}${comment ? ` ${comment}` : ''}`);
    if (comment) prose = true;
  }
  // Bare tags (`/** @deprecated */`, `/** @internal */`) carry no text: not documented.
  return prose ? parts.join('\n') : '';
}

function nameOf(name: ts.Node): string {
  if (ts.isIdentifier(name) || ts.isPrivateIdentifier(name)) return name.text;
  if (ts.isStringLiteral(name) || ts.isNumericLiteral(name)) return name.text;
  if (ts.isComputedPropertyName(name)) return `[${name.expression.getText()}]`;
  return name.getText();
}

function scriptKindOf(fileName: string): ts.ScriptKind {
  if (/\.tsx$/i.test(fileName)) return ts.ScriptKind.TSX;
  if (/\.jsx$/i.test(fileName)) return ts.ScriptKind.JSX;
  if (/\.[cm]?js$/i.test(fileName)) return ts.ScriptKind.JS;
  return ts.ScriptKind.TS;
}
