// The story: the learner's part of README.md, rendered to HTML at build time
// (examples/render_readme.rs), with an empty slot wherever a figure goes. One source of
// text: the page never copies it by hand.

/** Loads readme.html into `article`. Resolves to true once the story is in the page. */
export async function showReadme(article) {
  let html;
  try {
    const response = await fetch('readme.html');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    html = await response.text();
  } catch (error) {
    article.querySelector('.note').textContent =
      `The story (readme.html) could not be loaded: ${error.message}. Run make build.`;
    return false;
  }
  // Parsed as an inert document (scripts in it would not run) and moved in node by node.
  const parsed = new DOMParser().parseFromString(html, 'text/html');
  article.replaceChildren(...parsed.body.childNodes);
  for (const image of article.querySelectorAll('img')) {
    image.loading = 'lazy';
    image.decoding = 'async';
  }
  return true;
}
