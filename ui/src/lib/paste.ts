// What a paste holds: image files (bytes to queue) or paths copied from a
// file manager (as `file://` URIs or plain absolute paths, one per line).

export interface Pasted {
  images: File[];
  paths: string[];
}

export function pathsFromText(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith("#"))
    .map((line) => {
      if (!line.startsWith("file://")) return line;
      try {
        return decodeURIComponent(new URL(line).pathname);
      } catch {
        return "";
      }
    })
    .filter((p) => p.startsWith("/"));
}

export function readPaste(data: DataTransfer | null): Pasted {
  if (!data) return { images: [], paths: [] };
  const images = Array.from(data.files).filter((f) => f.type.startsWith("image/"));
  const uriList = data.getData("text/uri-list");
  const text = uriList || data.getData("text/plain");
  return { images, paths: images.length > 0 ? [] : pathsFromText(text) };
}
