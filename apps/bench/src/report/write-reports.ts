import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderHtml } from './html.js';
import { renderJson } from './json.js';
import { type ReportView, renderMarkdown } from './markdown.js';

/** Paths of the files {@link writeReports} wrote. */
export interface ReportPaths {
  json: string;
  markdown: string;
  html: string;
}

/** Writes `latest.json`, `latest.md` and `latest.html` into `outDir` (created if missing). */
export async function writeReports(outDir: string, view: ReportView): Promise<ReportPaths> {
  await mkdir(outDir, { recursive: true });
  const paths = {
    json: join(outDir, 'latest.json'),
    markdown: join(outDir, 'latest.md'),
    html: join(outDir, 'latest.html'),
  };
  await writeFile(paths.json, renderJson(view.report));
  await writeFile(paths.markdown, renderMarkdown(view));
  await writeFile(paths.html, renderHtml(view));
  return paths;
}
