/**
 * Writing man(7) source: escaping text for roff, and a small converter for
 * the Markdown the project's docs are written in (headings, paragraphs,
 * lists, code blocks, tables, `code`, **bold**, links), so a man page can be
 * made from a doc and say what it says.
 */

/** Text safe on a roff line: backslashes escaped, no control character at its start. */
export function escape(text: string): string {
  const t = text.replace(/\\/g, '\\e');
  return /^[.']/.test(t) ? `\\&${t}` : t;
}

/** A literal (an option, a path, a value): bold, with hyphens as minus signs so they copy as typed. */
export function literal(text: string): string {
  return `\\fB${text.replace(/\\/g, '\\e').replace(/-/g, '\\-')}\\fR`;
}

/** Inline Markdown to roff: `code` and **bold** in bold, [text](link) as its text. */
export function inline(md: string): string {
  const parts = md.split(/(`[^`]+`)/);
  const out = parts
    .map((p, i) => {
      if (i % 2 === 1) return literal(p.slice(1, -1));
      return p
        .replace(/\\/g, '\\e')
        .replace(/\[([^\]]+)\]\([^)]*\)/g, '$1')
        .replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR');
    })
    .join('');
  return out
    .split('\n')
    .map((l) => (/^[.']/.test(l) ? `\\&${l}` : l))
    .join('\n');
}

/** Lines of running text (a paragraph, a list item): inline Markdown may run across them. */
function block(lines: string[]): string[] {
  return inline(lines.join('\n')).split('\n');
}

/** `.SH` and `.SS` titles as man pages have them. */
function heading(level: number, text: string): string {
  const t = text.replace(/`/g, '');
  return level <= 2 ? `.SH ${JSON.stringify(t.toUpperCase())}` : `.SS ${JSON.stringify(t)}`;
}

/** A table row's cells; `\|` is a bar inside a cell, as GitHub's tables have it. */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((c) => c.trim().replace(/\\\|/g, '|'));
}

/**
 * A table as a list of tagged paragraphs: the first column is the tag, the
 * second the text, and each further column a line "Header: text".
 */
function table(rows: string[]): string[] {
  const header = cells(rows[0]!);
  const out: string[] = [];
  for (const row of rows.slice(2)) {
    const c = cells(row);
    out.push('.TP', inline(c[0] ?? ''), inline(c[1] ?? ''));
    for (let i = 2; i < c.length; i++) out.push('.br', `${escape(capitalise(header[i] ?? ''))}: ${inline(c[i] ?? '')}`);
  }
  return out;
}

const capitalise = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

/**
 * Markdown blocks to man(7) source. The document's own title (`# …`) is
 * left out: the page has its NAME. Headings of level 2 become sections,
 * deeper ones subsections.
 */
export function markdownToMan(md: string): string[] {
  const lines = md.split('\n');
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
    } else if (line.startsWith('```')) {
      const code: string[] = [];
      for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) code.push(lines[i]!);
      i++;
      out.push('.PP', '.EX', ...code.map(escape), '.EE');
    } else if (/^#+ /.test(line)) {
      const level = /^#+/.exec(line)![0].length;
      if (level > 1) out.push(heading(level, line.slice(level + 1)));
      i++;
    } else if (line.startsWith('|')) {
      const rows: string[] = [];
      for (; i < lines.length && lines[i]!.startsWith('|'); i++) rows.push(lines[i]!);
      out.push(...table(rows));
    } else if (/^(- |\d+\. )/.test(line)) {
      // A list item and its indented continuation lines.
      const marker = /^(- |\d+\. )/.exec(line)![1]!;
      const item = [line.slice(marker.length)];
      for (i++; i < lines.length && /^ {2,}\S/.test(lines[i]!); i++) item.push(lines[i]!.trim());
      out.push(marker === '- ' ? '.IP \\(bu 2' : `.IP ${marker.trim()} 4`, ...block(item));
    } else {
      const para: string[] = [];
      for (; i < lines.length && lines[i]!.trim() !== '' && !/^(```|#+ |\||- |\d+\. )/.test(lines[i]!); i++) para.push(lines[i]!);
      out.push('.PP', ...block(para));
    }
  }
  return out;
}

/** Words of a text line, broken into lines of at most `width` bytes where it can be. */
function wrapLine(line: string, width: number): string[] {
  const out: string[] = [];
  let current = '';
  for (const word of line.split(' ')) {
    if (current !== '' && current.length + 1 + word.length > width) {
      out.push(current);
      current = word;
    } else current = current === '' ? word : `${current} ${word}`;
  }
  out.push(current);
  return out.map((l) => (/^[.']/.test(l) ? `\\&${l}` : l));
}

/** Characters outside ASCII as roff's named or Unicode escapes, which every formatter takes. */
function asciiOnly(line: string): string {
  const named: Record<string, string> = { '—': '\\(em', '–': '\\(en', '…': '.\\|.\\|.', '→': '\\(->', '×': '\\(mu', '’': "'", '‘': '`', '“': '\\(lq', '”': '\\(rq' };
  return line.replace(/[^\x00-\x7f]/gu, (c) => named[c] ?? `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]`);
}

/**
 * The last pass over a page: no paragraph macro right after a section
 * heading (it would be skipped), only ASCII, and long text lines broken
 * (roff fills them again), leaving macro lines and unfilled blocks
 * (.nf/.fi, .EX/.EE) as they are, so that mandoc's lint has nothing to say.
 */
export function finishPage(page: string, width = 78): string {
  let unfilled = false;
  const out: string[] = [];
  for (const raw of page.split('\n')) {
    const line = asciiOnly(raw);
    if (line === '.PP' && /^\.(SH|SS|PP|TH)\b/.test(out.at(-1) ?? '')) continue;
    if (/^\.(nf|EX)\b/.test(line)) unfilled = true;
    if (/^\.(fi|EE)\b/.test(line)) unfilled = false;
    if (unfilled || line.startsWith('.') || line.length <= width || !line.includes(' ')) out.push(line);
    else out.push(...wrapLine(line, width));
  }
  return out.join('\n');
}
