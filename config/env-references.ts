/**
 * Resolves `${NAME}` and `${NAME:-default}` inside string scalars of an already-parsed
 * YAML document. Substituting after parsing (not in the raw text) means a secret holding
 * `: `, `#` or a newline can never change the structure of the file.
 */

export type KeyPathSegment = string | number;

interface EnvReferenceProblem {
  path: KeyPathSegment[];
  message: string;
}

interface SubstitutionResult {
  value: unknown;
  problems: EnvReferenceProblem[];
}

// `:-` follows the shell: the default applies when the variable is unset or empty.
const REFERENCE_PATTERN = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Returns a deep copy of `value` with every reference replaced. The copy shares nothing
 * with the input, so later defaulting and freezing can never reach back into the YAML tree.
 */
export function substituteEnvReferences(value: unknown, env: NodeJS.ProcessEnv): SubstitutionResult {
  const problems: EnvReferenceProblem[] = [];
  const substituted = substituteNode(value, [], env, problems);
  return { value: substituted, problems };
}

function substituteNode(
  node: unknown,
  path: KeyPathSegment[],
  env: NodeJS.ProcessEnv,
  problems: EnvReferenceProblem[],
): unknown {
  if (typeof node === 'string') return substituteString(node, path, env, problems);
  if (Array.isArray(node)) {
    return node.map((item, index) => substituteNode(item, [...path, index], env, problems));
  }
  if (node !== null && typeof node === 'object') {
    // fromEntries defines own properties, so a `__proto__` key stays an (unknown) key
    // instead of replacing the prototype.
    return Object.fromEntries(
      Object.entries(node).map(([key, child]) => [key, substituteNode(child, [...path, key], env, problems)]),
    );
  }
  return node;
}

function substituteString(
  text: string,
  path: KeyPathSegment[],
  env: NodeJS.ProcessEnv,
  problems: EnvReferenceProblem[],
): string {
  if (!text.includes('${')) return text;

  const resolved = text.replace(REFERENCE_PATTERN, (reference, name: string, fallback: string | undefined) => {
    const current = env[name];
    if (fallback !== undefined) return current === undefined || current === '' ? fallback : current;
    if (current !== undefined) return current;
    problems.push({
      path,
      message: `environment variable ${name} is not set (use \${${name}:-default} to give a default)`,
    });
    return reference;
  });

  // Anything like `${` left after replacing the well-formed references is a typo
  // (e.g. `${1X}`, `${X`): passing it through would silently put a literal into a secret.
  const leftover = text.replace(REFERENCE_PATTERN, '');
  if (leftover.includes('${')) {
    problems.push({
      path,
      message: 'malformed environment reference (expected ${NAME} or ${NAME:-default})',
    });
  }
  return resolved;
}
