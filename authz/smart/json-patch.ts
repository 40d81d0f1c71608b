/**
 * A minimal RFC 6902 JSON Patch applier, so the gateway can check what a PATCH would leave
 * behind (the patched resource must still satisfy the token's checks) instead of guessing from
 * the operations. Works on a deep copy; throws on anything it cannot apply exactly.
 */
export function applyJsonPatch(document: unknown, patch: unknown): unknown {
  if (!Array.isArray(patch)) throw new Error('a JSON Patch is an array');
  let root = structuredClone(document);
  for (const operation of patch) {
    if (operation === null || typeof operation !== 'object') throw new Error('patch operation is not an object');
    const { op, path, from, value } = operation as Record<string, unknown>;
    if (typeof path !== 'string') throw new Error('patch operation has no path');
    switch (op) {
      case 'add':
        root = put(root, path, structuredClone(value), 'add');
        break;
      case 'replace':
        get(root, path);
        root = put(root, path, structuredClone(value), 'replace');
        break;
      case 'remove':
        root = remove(root, path);
        break;
      case 'move':
      case 'copy': {
        if (typeof from !== 'string') throw new Error(`${op} needs from`);
        const moved = structuredClone(get(root, from));
        if (op === 'move') root = remove(root, from);
        root = put(root, path, moved, 'add');
        break;
      }
      case 'test':
        if (JSON.stringify(get(root, path)) !== JSON.stringify(value)) throw new Error('test failed');
        break;
      default:
        throw new Error(`unknown patch op ${String(op)}`);
    }
  }
  return root;
}

function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`invalid JSON pointer ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function child(container: unknown, token: string): unknown {
  if (Array.isArray(container)) {
    const index = Number(token);
    if (!/^(0|[1-9]\d*)$/.test(token) || index >= container.length) throw new Error(`no element ${token}`);
    return container[index];
  }
  if (container !== null && typeof container === 'object' && Object.hasOwn(container, token)) return (container as Record<string, unknown>)[token];
  throw new Error(`no member ${token}`);
}

function get(root: unknown, pointer: string): unknown {
  return tokens(pointer).reduce(child, root);
}

function parentOf(root: unknown, pointer: string): { parent: unknown; key: string } | undefined {
  const path = tokens(pointer);
  const key = path.pop();
  if (key === undefined) return undefined;
  return { parent: path.reduce(child, root), key };
}

function put(root: unknown, pointer: string, value: unknown, mode: 'add' | 'replace'): unknown {
  const target = parentOf(root, pointer);
  if (!target) return value;
  const { parent, key } = target;
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (!Number.isInteger(index) || index < 0 || index > parent.length || (mode === 'replace' && index === parent.length)) throw new Error(`bad index ${key}`);
    if (mode === 'add') parent.splice(index, 0, value);
    else parent[index] = value;
  } else if (parent !== null && typeof parent === 'object') {
    (parent as Record<string, unknown>)[key] = value;
  } else {
    throw new Error('cannot add to a scalar');
  }
  return root;
}

function remove(root: unknown, pointer: string): unknown {
  get(root, pointer);
  const target = parentOf(root, pointer);
  if (!target) throw new Error('cannot remove the whole document');
  const { parent, key } = target;
  if (Array.isArray(parent)) parent.splice(Number(key), 1);
  else delete (parent as Record<string, unknown>)[key];
  return root;
}
