// The team kit's strings (issue 20), Dutch first and English second; merged into i18n.ts's table.
export const teamNl = {
  trainerIdLabel: 'Trainer-id',
  trainerIdHint: 'Bijvoorbeeld T-017. Leeg laten op een kit met één pincode.',
  myCases: 'Mijn casussen',
  signedInAs: 'Ingelogd als {id}',
  fetchLabel: 'Voor het volgende bezoek',
  fetchLine: '{ready} opnamen klaar, {waiting} worden opgehaald ({done} van {total} MB)',
  fetchLocked: 'ophalen na inloggen',
  fetchReviews: '{reviews} nabesprekingen en {kept} fragmenten/stills klaar',
};

export const teamEn: Record<keyof typeof teamNl, string> = {
  trainerIdLabel: 'Trainer id',
  trainerIdHint: 'For example T-017. Leave empty on a kit with one PIN.',
  myCases: 'My cases',
  signedInAs: 'Signed in as {id}',
  fetchLabel: 'For the next visit',
  fetchLine: '{ready} clips ready, {waiting} being fetched ({done} of {total} MB)',
  fetchLocked: 'fetching after sign-in',
  fetchReviews: '{reviews} reviews and {kept} fragments/stills ready',
};
