// Personal accounts (POLICY.md §3), the incentive (ORD-INC) and the period close (§6).
#pragma once
#include <vector>

#include "ledger/rules.h"

namespace gongji {

Money account_balance(const PersonState& p, std::optional<Date> as_of = std::nullopt);

void contribution_paid(const ContributionPaid& e, PersonState& p, const FoldContext& ctx, std::vector<Output>& out);
void account_payment(const AccountPayment& e, PersonState& p, const FoldContext& ctx, std::vector<Output>& out);
// ORD-INC: a contribution interruption before the bonus is enjoyed sets it to 0 from its date (`last_closed`: the
// partition's last closed month, PartitionMeta).
void contribution_interrupted(const ContributionInterrupted& e, PersonState& p, const FoldContext& ctx,
                              std::optional<Month> last_closed);

// Closing month `m` for one person: ACC-RET crediting; in December also ORD-INC and CHR-SUSP.
// Returns whether the person changed.
bool close_month_for(const PeriodClosed& e, Month m, PersonState& p, const FoldContext& ctx, std::vector<Output>& out);

// ORD-INC: did the person enjoy the bonus in `year` (a settled, not reversed ordinary claim with bonus and fund)?
bool enjoyed_bonus(const PersonState& p, int year);

}  // namespace gongji
