// The home page: the new-plan form and the live plan list.
import { initPlanForm } from "./plan-form.js";
import { initPlanList } from "./plan-list.js";

initPlanForm(document.getElementById("new-plan"));
initPlanList(document.getElementById("plan-list-body"), document.getElementById("plan-search"));
