/**
 * The VHT vocabulary for fragments and kept stills (/work/shared/domain/glossary.md): a fixed list,
 * ids in English (what the catalogue, the API and the exports store), names in Dutch first and
 * English second (what the UI and the review-talk markers show). No Node imports: the UI bundles it.
 */
export const REVIEW_LABELS = [
  { id: 'child-initiative', nl: 'initiatief kind', en: "child's initiative" },
  { id: 'receiving', nl: 'ontvangen', en: 'receiving' },
  { id: 'confirming', nl: 'instemmen', en: 'confirming' },
  { id: 'naming', nl: 'benoemen', en: 'naming' },
  { id: 'turn-taking', nl: 'beurt', en: 'turn-taking' },
  { id: 'guiding', nl: 'leiding geven', en: 'guiding' },
] as const;

export type ReviewLabel = (typeof REVIEW_LABELS)[number]['id'];

/** The label ids, in order (for schemas and checks). */
export const REVIEW_LABEL_IDS = REVIEW_LABELS.map((l) => l.id) as unknown as readonly [ReviewLabel, ...ReviewLabel[]];

/** The Dutch name of a label (the review-talk markers use it); the id itself for an unknown one. */
export function labelNl(id: string | null): string | null {
  if (id === null) return null;
  return REVIEW_LABELS.find((l) => l.id === id)?.nl ?? id;
}
