// The explanation: README.md, rendered to HTML at build time (examples/render_readme.rs),
// shown beside the playground. One source of text: the page never copies it by hand.

/** Loads readme.html into `article`, giving each heading an id for links. */
export async function showReadme(article) {
  let html;
  try {
    const response = await fetch('readme.html');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    html = await response.text();
  } catch (error) {
    article.querySelector('.note').textContent =
      `The explanation (readme.html) could not be loaded: ${error.message}. Run make build.`;
    return;
  }
  article.innerHTML = html;
  for (const heading of article.querySelectorAll('h1, h2, h3')) {
    const id = `readme-${heading.textContent.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '')}`;
    heading.id = id;
  }
  // The README's pictures sit beside readme.html; describe them as the README does.
  for (const image of article.querySelectorAll('img')) {
    image.loading = 'lazy';
    image.decoding = 'async';
  }
}
