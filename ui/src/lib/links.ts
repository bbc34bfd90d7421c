// An upload's link in the format the user copies it in (PicGo and ShareX
// habits): the URL, Markdown, HTML, BBCode, or their own template.

export const LINK_FORMATS = ["off", "url", "markdown", "html", "bbcode", "template"] as const;
export type LinkFormat = (typeof LINK_FORMATS)[number];

export interface Linked {
  url: string;
  /** The source's file name. */
  name: string;
  /** The text that stands for the image: the name without its extension. */
  alt: string;
}

export function linked(url: string, source: string): Linked {
  const name = source.split(/[\\/]/).pop() || source;
  const dot = name.lastIndexOf(".");
  return { url, name, alt: dot > 0 ? name.slice(0, dot) : name };
}

const html = (s: string) => s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const markdownAlt = (s: string) => s.replace(/([\\[\]])/g, "\\$1");
// A URL in Markdown's (…) must not end it early.
const markdownUrl = (s: string) => s.replace(/\(/g, "%28").replace(/\)/g, "%29").replace(/ /g, "%20");
const bbcode = (s: string) => s.replace(/\[/g, "%5B").replace(/\]/g, "%5D");

/** One link; `off` copies the plain URL (a click on "Copy link" still copies). */
export function formatLink(format: LinkFormat, template: string, l: Linked): string {
  switch (format) {
    case "off":
    case "url":
      return l.url;
    case "markdown":
      return `![${markdownAlt(l.alt)}](${markdownUrl(l.url)})`;
    case "html":
      return `<img src="${html(l.url)}" alt="${html(l.alt)}">`;
    case "bbcode":
      return `[img]${bbcode(l.url)}[/img]`;
    case "template":
      return template.replace(/\{(url|name|alt)\}/g, (_, key: "url" | "name" | "alt") => l[key]);
  }
}

/** Several links, one per line, in the order given. */
export function formatLinks(format: LinkFormat, template: string, links: Linked[]): string {
  return links.map((l) => formatLink(format, template, l)).join("\n");
}
